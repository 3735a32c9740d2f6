/**
 * The commands panel: each post's current watchlist and model versions (as its latest answer
 * states them), each recent rollout's progress (applied / refused with the reason / waiting),
 * recent evidence requests, and — for admins, on an instance with the command key — forms to
 * roll out a watchlist (plates, one a line) or a model (its signed manifest and ONNX file) to the
 * posts picked. Whoever cannot send sees why instead of the forms (not forms that do nothing). The server signs and sends (POST /api/commands/watchlist, /model); the browser
 * never holds the key. Reloaded every few seconds, so answers show as they arrive.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type CommandProgress, type CommandsView as CommandsData, type EvidenceRequestsView, type Me, type Post } from './api.js';
import { PALETTE } from './palette.js';
import { Untrusted } from './untrusted.js';

/** How much of a post's refusal code, refusal message and model versions is shown (untrusted.tsx). */
const ID_MAX = 64;
const MESSAGE_MAX = 300;

const RELOAD_MS = 4_000;
/** The API's body limit for a command; base64 makes a file 4/3 its size. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const time = (iso: string): string => new Date(iso).toLocaleString();
const KIND_LABEL: Record<CommandProgress['kind'], string> = { 'watchlist.update': 'watchlist', 'model.rollout': 'model', 'evidence.request': 'evidence request' };

/** Applied, refused and waiting posts of a command as one bar, and in words below it. */
function Progress({ command }: { command: CommandProgress }) {
  const total = Math.max(1, command.postIds.length);
  const parts: [number, string, string][] = [
    [command.applied.length, PALETTE.up, 'applied'],
    [command.refused.length, PALETTE.down, 'refused'],
    [command.waiting.length, PALETTE.previous, 'waiting'],
  ];
  let x = 0;
  return (
    <div class="progress" data-testid="command-progress">
      <svg viewBox="0 0 100 6" preserveAspectRatio="none" role="img" aria-label={`${command.applied.length} of ${command.postIds.length} applied`}>
        {parts.map(([n, colour, name]) => {
          const rect = <rect data-part={name} x={x} y={0} width={(n / total) * 100} height={6} fill={colour} />;
          x += (n / total) * 100;
          return rect;
        })}
      </svg>
      <span class={command.applied.length > 0 ? 'up' : 'muted'}>{`applied ${command.applied.length}/${command.postIds.length}`}</span>
      {command.applied.length > 0 && <span class="muted">{` (${command.applied.join(', ')})`}</span>}
      {command.refused.map((r) => (
        <span class="down" data-testid="refused">
          {' · refused by '}
          <Untrusted text={r.postId} max={ID_MAX} />
          {': '}
          <Untrusted text={r.code ?? '?'} max={ID_MAX} />
          {r.message && (
            <>
              {' — '}
              <Untrusted text={r.message} max={MESSAGE_MAX} />
            </>
          )}
        </span>
      ))}
      {command.waiting.length > 0 && <span class="muted">{` · waiting: ${command.waiting.join(', ')}`}</span>}
    </div>
  );
}

function PostPicker({ posts, picked, onChange }: { posts: string[]; picked: string[]; onChange: (posts: string[]) => void }) {
  return (
    <fieldset class="posts-picker">
      <legend>To the posts</legend>
      {posts.length === 0 && <span class="muted">no post has sent anything yet</span>}
      {posts.map((p) => (
        <label>
          <input type="checkbox" name="posts" value={p} checked={picked.includes(p)} onChange={(e) => onChange(e.currentTarget.checked ? [...picked, p] : picked.filter((x) => x !== p))} />
          {p}
        </label>
      ))}
    </fieldset>
  );
}

function Outcome({ result }: { result: { ok: boolean; text: string } | null }) {
  return result ? (
    <p class={result.ok ? 'up' : 'error'} role="status">
      {result.text}
    </p>
  ) : null;
}

const sent = (answer: { kind: string; version: number; topics: string[] }): string => `${answer.kind} version ${answer.version} sent to ${answer.topics.length} post(s)`;
const failure = (e: unknown): { ok: false; text: string } => ({ ok: false, text: e instanceof ApiError ? `${e.code}: ${e.message}` : String(e) });

function WatchlistForm({ posts, onSent }: { posts: string[]; onSent: () => void }) {
  const [plates, setPlates] = useState('');
  const [picked, setPicked] = useState<string[]>([]);
  const [clear, setClear] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  // A list replaces the posts' lists whole: one without plates lifts every watch, so it is sent
  // only when the admin ticks that it is meant (the server refuses it otherwise).
  const empty = plates.split(/\r?\n/).every((line) => line.replace(/#.*$/, '').trim() === '');
  const submit = (event: Event): void => {
    event.preventDefault();
    api<{ kind: string; version: number; topics: string[] }>('/api/commands/watchlist', { plates, posts: picked, ...(empty ? { clear } : {}) }).then(
      (answer) => {
        setResult({ ok: true, text: sent(answer) });
        onSent();
      },
      (e: unknown) => setResult(failure(e)),
    );
  };
  return (
    <form class="command-form" data-testid="watchlist-form" onSubmit={submit}>
      <h3>Roll out a watchlist</h3>
      <label>
        Plates, one a line (# comments); the whole list replaces the posts' list
        <textarea name="plates" rows={6} value={plates} onInput={(e) => setPlates(e.currentTarget.value)} />
      </label>
      {empty && (
        <label class="clear-watchlist">
          <input type="checkbox" name="clear" checked={clear} onChange={(e) => setClear(e.currentTarget.checked)} />
          No plates: clear the chosen posts' watchlists
        </label>
      )}
      <PostPicker posts={posts} picked={picked} onChange={setPicked} />
      <button type="submit" disabled={picked.length === 0 || (empty && !clear)}>
        {empty ? 'Clear watchlists' : 'Roll out watchlist'}
      </button>
      <Outcome result={result} />
    </form>
  );
}

/** Base64 of a file's bytes, in slices (String.fromCharCode takes a bounded argument list). */
async function base64Of(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** The ONNX file's sha256, where the browser offers it (a secure context: HTTPS or the local host); null otherwise. */
async function sha256Of(file: File): Promise<string | null> {
  if (!globalThis.crypto?.subtle) return null;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await file.arrayBuffer()));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function ModelForm({ posts, onSent }: { posts: string[]; onSent: () => void }) {
  const [manifest, setManifest] = useState<File | null>(null);
  const [onnx, setOnnx] = useState<File | null>(null);
  const [picked, setPicked] = useState<string[]>([]);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const submit = (event: Event): void => {
    event.preventDefault();
    void (async () => {
      if (!manifest || !onnx) return;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(await manifest.text()) as Record<string, unknown>;
      } catch (e) {
        setResult({ ok: false, text: `the manifest is not JSON: ${(e as Error).message}` });
        return;
      }
      // The posts check this too (GW_ERR_MODEL_DIGEST); caught here, nothing is sent.
      const digest = await sha256Of(onnx);
      if (digest !== null && digest !== parsed.sha256) {
        setResult({ ok: false, text: `${onnx.name} is not the file the manifest names (its sha256 differs)` });
        return;
      }
      if (onnx.size * (4 / 3) + 64 * 1024 > MAX_BODY_BYTES) {
        setResult({ ok: false, text: `${onnx.name} is too large to send from here; use border-gateway vmc command rollout-model` });
        return;
      }
      api<{ kind: string; version: number; topics: string[] }>('/api/commands/model', { manifest: parsed, onnxBase64: await base64Of(onnx), posts: picked }).then(
        (answer) => {
          setResult({ ok: true, text: sent(answer) });
          onSent();
        },
        (e: unknown) => setResult(failure(e)),
      );
    })();
  };
  return (
    <form class="command-form" data-testid="model-form" onSubmit={submit}>
      <h3>Roll out a model</h3>
      <label>
        Signed manifest (model train / model sign)
        <input type="file" name="manifest" accept=".json,application/json" onChange={(e) => setManifest(e.currentTarget.files?.[0] ?? null)} />
      </label>
      <label>
        Its ONNX file
        <input type="file" name="onnx" accept=".onnx" onChange={(e) => setOnnx(e.currentTarget.files?.[0] ?? null)} />
      </label>
      <PostPicker posts={posts} picked={picked} onChange={setPicked} />
      <button type="submit" disabled={!manifest || !onnx || picked.length === 0}>
        Roll out model
      </button>
      <Outcome result={result} />
    </form>
  );
}

function CommandRows({ commands, empty }: { commands: CommandProgress[]; empty: ComponentChildren }) {
  if (commands.length === 0) return <p class="muted">{empty}</p>;
  return (
    <table class="commands text-table">
      <thead>
        <tr>
          <th>command</th>
          <th>what</th>
          <th>sent</th>
          <th>progress</th>
        </tr>
      </thead>
      <tbody>
        {commands.map((c) => (
          <tr data-command={c.commandId} data-kind={c.kind} data-version={c.version}>
            <td>{`${KIND_LABEL[c.kind]} v${c.version}`}</td>
            <td>{c.summary}</td>
            <td>
              {time(c.issuedAt)}
              <br />
              <span class="muted">{c.issuedBy}</span>
            </td>
            <td>
              <Progress command={c} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function CommandsView({ me, posts }: { me: Me; posts: Post[] }) {
  const [data, setData] = useState<CommandsData | null>(null);
  const [requests, setRequests] = useState<EvidenceRequestsView | null>(null);
  const [error, setError] = useState('');
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    let stopped = false;
    const load = (): void => {
      if (document.hidden) return;
      Promise.all([api<CommandsData>('/api/commands'), api<EvidenceRequestsView>('/api/evidence/requests')]).then(
        ([commands, evidence]) => {
          if (stopped) return;
          setData(commands);
          setRequests(evidence);
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
  }, [reloads]);

  const versions = new Map((data?.posts ?? []).map((p) => [p.postId, p]));
  const postIds = [...new Set([...posts.map((p) => p.postId), ...versions.keys()])].sort();
  const canSend = me.role === 'admin' && data?.canSend === true;
  const reload = (): void => setReloads((n) => n + 1);
  return (
    <>
      <section class="wide" aria-label="post versions">
        <h2>
          Posts' watchlist and models <small>as each post's latest answer to a command states them</small>
        </h2>
        {error && <p class="error">{error}</p>}
        <table class="text-table" data-testid="post-versions">
          <thead>
            <tr>
              <th>post</th>
              <th>watchlist</th>
              <th>model rollout</th>
              <th>risk model</th>
              <th>X-ray screening model</th>
              <th>answered</th>
            </tr>
          </thead>
          <tbody>
            {postIds.map((id) => {
              const v = versions.get(id);
              return (
                <tr data-post={id}>
                  <td>{id}</td>
                  {v ? (
                    <>
                      <td>{v.watchlistVersion === null ? `configured list · ${v.watchlistPlates ?? 0} plates` : `v${v.watchlistVersion} · ${v.watchlistPlates ?? 0} plates`}</td>
                      <td>{v.modelCommandVersion === null ? 'none' : `v${v.modelCommandVersion}`}</td>
                      <td>{v.riskModel === null ? 'none loaded' : <Untrusted text={v.riskModel} max={ID_MAX} />}</td>
                      <td>{v.xrayModel === null ? 'none loaded' : <Untrusted text={v.xrayModel} max={ID_MAX} />}</td>
                      <td>{time(v.updatedAt)}</td>
                    </>
                  ) : (
                    <td colSpan={5} class="muted">
                      not known yet: shown once the post answers a command
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
      <section class="wide" aria-label="rollouts">
        <h2>
          Rollouts <small>the latest watchlist and model commands, and each post's answer</small>
        </h2>
        <CommandRows commands={data?.commands ?? []} empty="No watchlist or model has been rolled out from this VMC yet." />
      </section>
      <section aria-label="send commands" class="forms">
        <h2>Send</h2>
        {me.role !== 'admin' ? (
          <p class="muted">Only admins roll out watchlists and models.</p>
        ) : data && !data.canSend ? (
          <p class="muted">This VMC instance has no command key (start it with --command-key PEM); use border-gateway vmc command … where the key is.</p>
        ) : null}
        {canSend && (
          <div class="form-pair">
            <WatchlistForm posts={postIds} onSent={reload} />
            <ModelForm posts={postIds} onSent={reload} />
          </div>
        )}
      </section>
      <section class="wide" aria-label="evidence requests">
        <h2>
          Evidence requests <small>full pieces asked of the posts</small>
        </h2>
        <CommandRows commands={requests?.requests ?? []} empty="None yet: request a full image from a crossing's evidence." />
      </section>
    </>
  );
}
