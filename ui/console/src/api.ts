/**
 * The one way the console talks to the gateway: JSON over fetch with the session cookie, the
 * session's CSRF token on every state-changing request, and the API's own refusal (`{code,
 * message}`) kept so the screen can show it. A 401 anywhere means the session ended.
 */
import type { SessionView } from './types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds until a throttled request may be made again (Retry-After). */
    readonly retryAfterSec: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Listener = () => void;

export class Api {
  private csrfToken: string | null = null;
  private readonly expiredListeners = new Set<Listener>();

  /** Called whenever the gateway answers 401 to a request made with a session. */
  onExpired(listener: Listener): () => void {
    this.expiredListeners.add(listener);
    return () => this.expiredListeners.delete(listener);
  }

  setSession(session: SessionView | null): void {
    this.csrfToken = session?.csrfToken ?? null;
  }

  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, options: { quiet401?: boolean } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && this.csrfToken) headers['x-csrf-token'] = this.csrfToken;
    let response: Response;
    try {
      response = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      throw new ApiError(0, 'NETWORK', (error as Error).message);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = null;
    }
    if (!response.ok) {
      const refusal = (parsed ?? {}) as { code?: string; message?: string };
      const retry = Number(response.headers.get('retry-after'));
      const error = new ApiError(response.status, refusal.code ?? `HTTP_${response.status}`, refusal.message ?? (text.slice(0, 200) || response.statusText), Number.isFinite(retry) && retry > 0 ? retry : null);
      if (response.status === 401 && this.csrfToken && !options.quiet401) {
        this.csrfToken = null;
        for (const listener of this.expiredListeners) listener();
      }
      throw error;
    }
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }
}
