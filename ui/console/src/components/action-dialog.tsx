/**
 * The operator's actions on a lane, one dialog each: enter or correct a plate, enter a weight,
 * override the channel, record an inspection outcome, release, open or close the barrier. Each asks
 * for the reason the API requires and shows the API's own message when it refuses.
 *
 * The lanes keep moving while a dialog is open. When its vehicle leaves the lane, or moves past the
 * state the action needs, the dialog stays open and says so, with Confirm disabled: it does not
 * vanish under the operator's hands (what they typed stays readable, and keys meant for the dialog
 * do not fall through to the board's shortcuts), and it never sends what would only be refused.
 */
import { useState } from 'preact/hooks';
import { ApiError, type Api } from '../api.js';
import type { ActionKind, ActionTarget, TargetNow } from '../actions.js';
import { useI18n, type MessageKey } from '../i18n/index.js';
import { Dialog } from './dialog.js';

const TITLES: Record<ActionKind, MessageKey> = {
  plate: 'action.plate.title',
  weight: 'action.weight.title',
  channel: 'action.channel.title',
  inspection: 'action.inspection.title',
  release: 'action.release.title',
  barrier: 'action.barrier.title',
};

const STATES = ['arrived', 'registered', 'weighed', 'risk-assessed', 'scanning', 'inspecting', 'released', 'exited', 'abandoned'] as const;
type State = (typeof STATES)[number];

/** `now`: the target by the lanes as they are now (targetNow in actions.ts). */
export function ActionDialog({ api, target, now, onClose, onDone }: { api: Api; target: ActionTarget; now: TargetNow; onClose: () => void; onDone: (message: string) => void }) {
  const { t, number } = useI18n();
  const { kind, laneId } = target;
  const crossing = 'crossing' in now ? now.crossing : target.crossing;
  const [plate, setPlate] = useState(crossing?.plate ?? '');
  const [weight, setWeight] = useState('');
  const [channel, setChannel] = useState<'green' | 'orange' | 'red'>(crossing?.channel === 'red' ? 'orange' : 'red');
  const [outcome, setOutcome] = useState<'cleared' | 'irregularity' | 'refused'>('cleared');
  const [command, setCommand] = useState<'open' | 'close'>('open');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const reasonRequired = kind !== 'inspection';
  // While our own request is in flight the change may be its doing: its answer says how it went.
  const stale = busy || now.applies ? null : now;
  const staleText = !stale
    ? null
    : stale.why === 'gone'
      ? t('action.stale.gone')
      : t('action.stale.moved', { state: (STATES as readonly string[]).includes(stale.crossing.state) ? t(`state.${stale.crossing.state as State}`) : stale.crossing.state });

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    if (!now.applies) return;
    setError(null);
    if (reasonRequired && reason.trim() === '') {
      setError(t('action.reasonRequired'));
      return;
    }
    const base = `/api/lanes/${encodeURIComponent(laneId)}`;
    const at = crossing ? `${base}/crossings/${encodeURIComponent(crossing.crossingId)}/${kind}` : `${base}/barrier`;
    const trimmed = reason.trim();
    let body: Record<string, unknown>;
    switch (kind) {
      case 'plate':
        body = { plate: plate.trim(), reason: trimmed };
        break;
      case 'weight': {
        const kg = Number(weight.replace(',', '.'));
        if (!(kg > 0)) {
          setError(t('action.weight.invalid'));
          return;
        }
        body = { weightKg: kg, reason: trimmed };
        break;
      }
      case 'channel':
        body = { channel, reason: trimmed };
        break;
      case 'inspection':
        body = trimmed === '' ? { outcome } : { outcome, reason: trimmed };
        break;
      case 'release':
        body = { reason: trimmed };
        break;
      case 'barrier':
        body = { command, reason: trimmed };
        break;
    }
    setBusy(true);
    try {
      await api.post(at, body);
      onDone(t('action.done', { action: t(TITLES[kind]), target: crossing?.plate ?? crossing?.crossingId ?? laneId }));
    } catch (caught) {
      const e = caught instanceof ApiError ? caught : new ApiError(0, 'NETWORK', String(caught));
      if (e.status === 0) setError(t('error.network'));
      else if (e.status === 403) setError(t('action.forbidden', { message: e.message }));
      else setError(t('action.refused', { message: e.message }));
    } finally {
      setBusy(false);
    }
  };
  const value = (set: (v: string) => void) => (e: Event) => set((e.currentTarget as HTMLInputElement).value);

  return (
    <Dialog title={t(TITLES[kind])} onClose={onClose} testId={`dialog-${kind}`}>
      <form onSubmit={(event) => void submit(event)}>
        <p class="muted">
          {crossing
            ? t('action.on', { lane: laneId, plate: crossing.plate ?? t('crossing.unread'), id: crossing.crossingId })
            : t('action.onLane', { lane: laneId })}
        </p>
        {stale && (
          <p class="notice" role="alert" data-testid="action-stale" data-why={stale.why}>
            <strong>{staleText}</strong>
          </p>
        )}
        {kind === 'plate' && (
          <label>
            {t('action.plate.field')}
            <input data-autofocus name="plate" required maxLength={32} autoComplete="off" class="plate-input" value={plate} onInput={value((v) => setPlate(v.toUpperCase()))} />
          </label>
        )}
        {kind === 'weight' && (
          <label>
            {t('action.weight.field')}
            <input data-autofocus name="weightKg" required inputMode="decimal" autoComplete="off" value={weight} onInput={value(setWeight)} />
            {crossing?.declaredWeightKg != null && <span class="muted">{t('action.weight.declared', { kg: number(crossing.declaredWeightKg) })}</span>}
          </label>
        )}
        {kind === 'channel' && (
          <fieldset>
            <legend>{t('action.channel.field')}</legend>
            {(['green', 'orange', 'red'] as const).map((c) => (
              <label key={c} class="choice">
                <input type="radio" name="channel" value={c} checked={channel === c} onChange={() => setChannel(c)} data-autofocus={channel === c ? '' : undefined} />
                <span class={`badge channel-${c}`}>{t(`channel.${c}`)}</span>
              </label>
            ))}
          </fieldset>
        )}
        {kind === 'inspection' && (
          <fieldset>
            <legend>{t('action.inspection.field')}</legend>
            {(['cleared', 'irregularity', 'refused'] as const).map((o) => (
              <label key={o} class="choice">
                <input type="radio" name="outcome" value={o} checked={outcome === o} onChange={() => setOutcome(o)} data-autofocus={outcome === o ? '' : undefined} />
                {t(`outcome.${o}`)}
              </label>
            ))}
          </fieldset>
        )}
        {kind === 'barrier' && (
          <fieldset>
            <legend>{t('action.barrier.field')}</legend>
            {(['open', 'close'] as const).map((c) => (
              <label key={c} class="choice">
                <input type="radio" name="command" value={c} checked={command === c} onChange={() => setCommand(c)} data-autofocus={command === c ? '' : undefined} />
                {t(`barrier.command.${c}`)}
              </label>
            ))}
          </fieldset>
        )}
        <label>
          {reasonRequired ? t('action.reason') : t('action.reasonOptional')}
          <textarea name="reason" rows={2} maxLength={500} required={reasonRequired} value={reason} onInput={value(setReason)} data-autofocus={kind === 'release' ? '' : undefined} />
        </label>
        {error && (
          <p class="error" role="alert" data-testid="action-error">
            {error}
          </p>
        )}
        <div class="buttons">
          <button type="submit" class="primary" disabled={busy || stale !== null} data-testid="action-submit">
            {t('action.submit')}
          </button>
          <button type="button" onClick={onClose} data-testid="action-cancel">
            {stale ? t('action.close') : t('action.cancel')} <kbd>Esc</kbd>
          </button>
        </div>
      </form>
    </Dialog>
  );
}
