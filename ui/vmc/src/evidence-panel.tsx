/**
 * One crossing's evidence beside it: the plate snapshot, the X-ray thumbnail with the screening
 * regions drawn over it (an SVG whose viewBox is the full image's size, so the regions, which are
 * in the full image's pixels, land where the thumbnail shows them), the full image's state with a
 * "request full image" button (requested → arrived → a download link), and every piece's state.
 * Reloaded every few seconds while open, so a piece arriving shows without a click.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type CrossingEvidence, type CrossingRow, type EvidencePiece, type ScreeningRegion } from './api.js';
import { PALETTE } from './palette.js';
import { Untrusted } from './untrusted.js';

/** How much of a post's plate, ids and model version is shown (untrusted.tsx). */
const PLATE_MAX = 20;
const ID_MAX = 64;

const RELOAD_MS = 4_000;

const size = (bytes: number): string => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(0)} KiB` : `${bytes} B`);
const time = (iso: string): string => new Date(iso).toLocaleString();
const KIND_LABEL: Record<EvidencePiece['kind'], string> = { 'plate-snapshot': 'plate snapshot', 'xray-thumbnail': 'X-ray thumbnail', 'xray-image': 'X-ray full image' };
const PROBLEM_LABEL: Record<string, string> = {
  'chunk-invalid': 'a chunk did not add up',
  'too-large': 'larger than the VMC accepts',
  'digest-mismatch': 'rejected: its bytes did not match its digest',
  'evicted-bound': 'dropped unfinished (the bound on incomplete evidence)',
  'evicted-age': 'dropped unfinished (no chunk for days)',
  expired: 'expired: kept its retention at the VMC (--evidence-days), then dropped',
  'evicted-at-post': 'the post evicted it before sending the rest',
};

/** A piece's state in a few words. */
export function pieceState(piece: EvidencePiece): string {
  if (piece.complete) return `held · ${size(piece.bytes)}`;
  if (piece.problem) return PROBLEM_LABEL[piece.problem] ?? piece.problem;
  if (piece.evictedAtPost) return 'no longer at the post';
  if (piece.received > 0) return `receiving · ${piece.received}/${piece.count} chunks`;
  if (piece.request) return piece.request.answer === 'refused' ? `request refused: ${piece.request.reason?.code ?? '?'}` : `requested ${time(piece.request.requestedAt)}`;
  if (piece.chunks === 0) return 'kept at the post (sent on request)';
  if (piece.chunks === null) return 'not announced by the post';
  return `on its way · 0/${piece.count} chunks`;
}

/** The thumbnail with the regions over it; the regions' pixels are the full image's (imageWidth × imageHeight). */
function Thumbnail({ piece, regions }: { piece: EvidencePiece; regions: ScreeningRegion[] }) {
  const width = piece.imageWidth;
  const height = piece.imageHeight;
  return (
    <div class="overlay-box" data-testid="xray-thumbnail">
      <img src={`/api/evidence/${piece.digest}`} alt="X-ray thumbnail of the scan" />
      {width !== null && height !== null && (
        <svg class="regions" viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label={`${regions.length} screening region(s)`}>
          {regions.map((r, i) => (
            <g data-region={i + 1} data-x={r.x} data-y={r.y} data-width={r.width} data-height={r.height}>
              <rect x={r.x} y={r.y} width={r.width} height={r.height} fill="none" stroke={PALETTE.onRed} stroke-width={5} vector-effect="non-scaling-stroke" />
              <rect x={r.x} y={r.y} width={r.width} height={r.height} fill="none" stroke={PALETTE.red} stroke-width={2.5} vector-effect="non-scaling-stroke" />
            </g>
          ))}
        </svg>
      )}
    </div>
  );
}

function FullImage({ piece, post, onRequested }: { piece: EvidencePiece; post: string; onRequested: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  if (piece.complete) {
    return (
      <p data-testid="full-image" class="up">
        Full image arrived ({size(piece.bytes)}) ·{' '}
        <a href={`/api/evidence/${piece.digest}?download=true`} download>
          download
        </a>
      </p>
    );
  }
  const request = (): void => {
    setBusy(true);
    api('/api/evidence/requests', { post, digests: [piece.digest] }).then(
      () => {
        setError('');
        setBusy(false);
        onRequested();
      },
      (e: unknown) => {
        setError(e instanceof ApiError ? e.message : String(e));
        setBusy(false);
      },
    );
  };
  const gone = piece.evictedAtPost !== null;
  return (
    <p data-testid="full-image">
      Full image: <span class={piece.request?.answer === 'refused' || gone ? 'down' : 'muted'}>{pieceState(piece)}</span>{' '}
      {!gone && (
        <button type="button" onClick={request} disabled={busy || piece.received > 0}>
          {piece.request ? 'request again' : 'request full image'}
        </button>
      )}
      {error && <span class="error"> {error}</span>}
    </p>
  );
}

export function EvidencePanel({ crossing }: { crossing: CrossingRow }) {
  const [evidence, setEvidence] = useState<CrossingEvidence | null>(null);
  const [error, setError] = useState('');
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    let stopped = false;
    const load = (): void => {
      if (document.hidden) return;
      api<CrossingEvidence>(`/api/crossings/${encodeURIComponent(crossing.crossingId)}/evidence?post=${crossing.postId}`).then(
        (loaded) => {
          if (stopped) return;
          setEvidence(loaded);
          setError('');
        },
        (e: unknown) => !stopped && setError(e instanceof Error ? e.message : String(e)),
      );
    };
    load();
    const timer = setInterval(load, RELOAD_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [crossing.postId, crossing.crossingId, reloads]);

  const pieces = evidence?.pieces ?? [];
  const snapshot = pieces.find((p) => p.kind === 'plate-snapshot' && p.complete) ?? null;
  const thumbnail = pieces.find((p) => p.kind === 'xray-thumbnail' && p.complete) ?? null;
  const fullImage = (thumbnail?.of ? pieces.find((p) => p.digest === thumbnail.of) : pieces.find((p) => p.kind === 'xray-image')) ?? null;
  const screening = evidence?.screening ?? null;
  return (
    <section class="evidence" aria-label="evidence" data-testid="evidence-panel">
      <h2>
        {crossing.plate === null ? 'unread plate' : <Untrusted text={crossing.plate} max={PLATE_MAX} />}{' '}
        <small>
          <Untrusted text={crossing.postId} max={ID_MAX} /> / <Untrusted text={crossing.laneId} max={ID_MAX} /> · <Untrusted text={crossing.crossingId} max={ID_MAX} />
          {` · ${crossing.direction} · `}
        </small>
        <small class={`channel-${crossing.channel}`}>{crossing.channel}</small>
        <small>{` · completed ${time(crossing.completedAt)}`}</small>
      </h2>
      {error && <p class="error">{error}</p>}
      {evidence && pieces.length === 0 && <p class="muted">No evidence of this crossing has reached the VMC.</p>}
      <div class="evidence-pictures">
        {snapshot && (
          <figure data-testid="plate-snapshot">
            <img src={`/api/evidence/${snapshot.digest}`} alt={`Plate snapshot of ${crossing.plate ?? 'the vehicle'}`} />
            <figcaption>
              Plate snapshot
              {snapshot.deviceId && (
                <>
                  {' · '}
                  <Untrusted text={snapshot.deviceId} max={ID_MAX} />
                </>
              )}
            </figcaption>
          </figure>
        )}
        {thumbnail && (
          <figure>
            <Thumbnail piece={thumbnail} regions={screening?.regions ?? []} />
            <figcaption>
              X-ray thumbnail
              {screening ? (
                <>
                  {` · screening ${screening.score.toFixed(2)}`}
                  {screening.result && (
                    <>
                      {' ('}
                      <Untrusted text={screening.result} max={ID_MAX} />)
                    </>
                  )}
                  {' · '}
                  <Untrusted text={screening.modelVersion} max={ID_MAX} />
                  {` · ${screening.regions.length} region(s)`}
                </>
              ) : (
                ' · no screening'
              )}
              {thumbnail.imageWidth === null ? ' · regions cannot be placed: no image size' : ''}
            </figcaption>
          </figure>
        )}
      </div>
      {screening && screening.regions.length > 0 && (
        <ol class="regions-list">
          {screening.regions.map((r) => (
            <li>{`${r.width}×${r.height} px at (${r.x}, ${r.y}), density ${r.density.toFixed(2)}`}</li>
          ))}
        </ol>
      )}
      {fullImage && <FullImage piece={fullImage} post={crossing.postId} onRequested={() => setReloads((n) => n + 1)} />}
      {pieces.length > 0 && (
        <table class="pieces text-table">
          <thead>
            <tr>
              <th>evidence</th>
              <th>digest</th>
              <th>state</th>
            </tr>
          </thead>
          <tbody>
            {pieces.map((p) => (
              <tr data-digest={p.digest}>
                <td>{KIND_LABEL[p.kind]}</td>
                <td title={p.digest}>{p.digest.slice(7, 19)}…</td>
                <td class={p.complete ? 'up' : p.problem || p.request?.answer === 'refused' ? 'down' : 'muted'}>{pieceState(p)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
