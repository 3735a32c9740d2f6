/**
 * The uplink's one connection state, with its allowed transitions. MQTT.js spread connection
 * state over several booleans and paid for it in reconnect bugs; here a wrong move throws.
 */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'stopped';

const ALLOWED: Record<ConnectionState, readonly ConnectionState[]> = {
  idle: ['connecting', 'stopped'],
  connecting: ['connected', 'backoff', 'connecting', 'stopped'],
  connected: ['backoff', 'stopped'],
  backoff: ['connecting', 'stopped'],
  stopped: [],
};

export class ConnectionStateMachine {
  private current: ConnectionState = 'idle';

  constructor(private readonly onChange: (from: ConnectionState, to: ConnectionState) => void = () => {}) {}

  get state(): ConnectionState {
    return this.current;
  }

  /** Moves to `next`; throws on a transition the uplink must never make. */
  to(next: ConnectionState): void {
    if (!ALLOWED[this.current].includes(next)) {
      throw new Error(`uplink: illegal connection transition ${this.current} -> ${next}`);
    }
    const from = this.current;
    this.current = next;
    this.onChange(from, next);
  }

  is(...states: ConnectionState[]): boolean {
    return states.includes(this.current);
  }
}
