/**
 * The barrier's arm as the console shows it. The lane API reports `open|closed|moving|fault`, null
 * before a reading (docs/operations.md, the lane view's `barrier`); `fault` — both limit switches
 * at once, or one unreadable — is a reading and must not look like the absence of one.
 */
export const ARM_POSITIONS = ['open', 'closed', 'moving', 'opening', 'closing', 'fault'] as const;
export type ArmPosition = (typeof ARM_POSITIONS)[number] | 'unknown';

/** The position shown for what the lane view says; anything else (null, a new word) is unknown. */
export function armPosition(position: string | null | undefined): ArmPosition {
  return ARM_POSITIONS.find((known) => known === position) ?? 'unknown';
}
