/**
 * core/identifiers: the one rule for post, lane and device ids. A post id and a lane id make an
 * event's `source` (`/border/{postId}/{laneId}`, contract/envelope.ts) and its topic segments, so
 * the configuration that names them, the contract that publishes them and the VMC that filters on
 * them must agree on one bound: an id the gateway may emit is one the VMC can be asked for. It
 * lives in core/ because config/, contract/, vmc/ and sim/ all read it, and sim/ may reach only
 * config/ and core/.
 */

/** Longest id, in characters: a DNS label's 63 (RFC 1035 2.3.4), so an id also fits a host name. */
export const MAX_ID_LENGTH = 63;

/** An id without anchors, to build patterns of which it is one part (a `source`, a list). */
export const ID_PATTERN_SOURCE = `[a-z0-9][a-z0-9-]{0,${MAX_ID_LENGTH - 1}}`;

/** A whole id: 1-63 lowercase letters, digits or hyphens, starting with a letter or digit. */
export const ID_PATTERN = new RegExp(`^${ID_PATTERN_SOURCE}$`);

export const ID_RULE = `1-${MAX_ID_LENGTH} lowercase letters, digits or hyphens, starting with a letter or digit`;

/** The pseudo-lane of post-wide events (gateway alarms, model swaps, command answers): `{root}/post/{type}`. */
export const POST_LANE_ID = 'post';

/** The topic level the VMC's commands to a post arrive under: `{root}/commands/{kind}`. */
export const COMMANDS_TOPIC_LEVEL = 'commands';

/**
 * Lane ids the topic tree keeps for itself. A lane `post` would mix its events with the post's
 * own; a lane `commands` publishes its events on `{root}/commands/{type}`, under the filter the
 * gateway subscribes to for the VMC's commands, so each of its events came back as a command and
 * was answered with a command.refused.
 */
export const RESERVED_LANE_IDS: readonly string[] = [POST_LANE_ID, COMMANDS_TOPIC_LEVEL];
