/** A lane's devices (health dots with their last error) and its barrier: position, loop, photocell. */
import { armPosition } from '../barrier.js';
import { useI18n } from '../i18n/index.js';
import type { LaneView } from '../types.js';

const PHASES: string[] = ['idle', 'open', 'closing', 'close-refused', 'close-failed'];
type Phase = 'idle' | 'open' | 'closing' | 'close-refused' | 'close-failed';

export function LaneStatus({ lane, canBarrier, onBarrier }: { lane: LaneView; canBarrier: boolean; onBarrier: () => void }) {
  const { t } = useI18n();
  const barrier = lane.barrier;
  const position = barrier?.position ?? null;
  const loop = barrier?.vehiclePresent ?? barrier?.loopActive ?? null;
  const photocell = barrier?.photocellBlocked ?? null;
  const shown = armPosition(position);
  return (
    <div class="lane-status">
      <ul class="devices" aria-label={t('devices.title')}>
        {lane.devices.map((device) => {
          const state = device.health?.state ?? 'unknown';
          const label = t(`health.${state}`);
          return (
            <li key={device.id} class="device" data-device={device.id} data-state={state} title={device.health?.lastError ? `${device.id}: ${label} — ${device.health.lastError}` : `${device.id}: ${label}`}>
              <span class={`dot health-${state}`} aria-hidden="true" />
              <span class="device-name">{device.id.replace(`${lane.laneId}-`, '')}</span>
              <span class="sr-only">{label}</span>
            </li>
          );
        })}
      </ul>
      <div class="barrier" data-testid={`barrier-${lane.laneId}`} data-position={shown}>
        <svg class="barrier-arm" viewBox="0 0 32 20" width="32" height="20" aria-hidden="true">
          <rect x="1" y="12" width="5" height="8" class="post" />
          {shown === 'open' ? <line x1="4" y1="13" x2="12" y2="1" class="arm arm-open" /> : shown === 'closed' ? <line x1="4" y1="13" x2="31" y2="13" class="arm arm-closed" /> : <line x1="4" y1="13" x2="24" y2="5" class={`arm arm-${shown === 'fault' ? 'fault' : 'moving'}`} />}
        </svg>
        <span>
          {t('barrier.label')}: <strong class={shown === 'fault' ? 'barrier-position fault' : 'barrier-position'}>{t(`barrier.position.${shown}`)}</strong>
        </span>
        <span class={loop ? 'flag on' : 'flag'}>{t('barrier.loop')}: {loop === null ? t('barrier.unknownInput') : loop ? t('barrier.occupied') : t('barrier.clear')}</span>
        <span class={photocell ? 'flag on' : 'flag'}>{t('barrier.photocell')}: {photocell === null ? t('barrier.unknownInput') : photocell ? t('barrier.blocked') : t('barrier.clear')}</span>
        {barrier?.phase && <span class="muted">{t('barrier.phase', { phase: PHASES.includes(barrier.phase) ? t(`barrier.cycle.${barrier.phase as Phase}`) : barrier.phase })}</span>}
        {canBarrier && (
          <button type="button" class="small" onClick={onBarrier} data-testid={`barrier-action-${lane.laneId}`}>
            {t('resolve.barrier')} <kbd>B</kbd>
          </button>
        )}
      </div>
    </div>
  );
}
