/**
 * One vehicle at its step: plate and read confidence with the entry snapshot, declared against
 * measured weight, the channel with the risk reasons and model version, the X-ray status with the
 * screening regions drawn over the thumbnail, how long it has waited, and the actions it allows.
 */
import { ACTION_KEY, type ActionKind } from '../actions.js';
import { useI18n } from '../i18n/index.js';
import type { CrossingView, Region } from '../types.js';

export function CrossingCard({ crossing, atStepSec, sinceArrivalSec, actions, onAction }: { crossing: CrossingView; atStepSec: number; sinceArrivalSec: number; actions: ActionKind[]; onAction: (kind: ActionKind) => void }) {
  const { t, number, percent, duration } = useI18n();
  const risk = crossing.risk ?? null;
  const channel = crossing.channel ?? risk?.channel ?? null;
  const difference = crossing.declaredWeightKg != null && crossing.weightKg != null && crossing.declaredWeightKg > 0 ? (crossing.weightKg - crossing.declaredWeightKg) / crossing.declaredWeightKg : null;
  return (
    <article class="crossing" tabIndex={0} data-crossing={crossing.crossingId} data-plate={crossing.plate ?? ''} data-state={crossing.state} data-testid="crossing" aria-label={t('crossing.label', { plate: crossing.plate ?? t('crossing.unread') })}>
      <div class="crossing-top">
        {crossing.snapshotUrl && <img class="snapshot" src={crossing.snapshotUrl} alt={t('crossing.snapshot')} width={64} height={40} loading="lazy" />}
        <div>
          <div class={crossing.plate ? 'plate' : 'plate unread'}>{crossing.plate ?? t('crossing.unread')}</div>
          <div class="muted small">
            {crossing.plateConfidence != null ? t('crossing.confidence', { value: percent(crossing.plateConfidence) }) : ''}
          </div>
        </div>
        <div class="waits">
          <span data-testid="wait-step" title={t('crossing.atStepTitle')}>
            <ClockIcon /> {Number.isFinite(atStepSec) ? duration(atStepSec) : '—'}
          </span>
          <span class="muted small" title={t('crossing.sinceArrivalTitle')}>
            {t('crossing.total', { time: Number.isFinite(sinceArrivalSec) ? duration(sinceArrivalSec) : '—' })}
          </span>
        </div>
      </div>
      <dl class="facts">
        {(crossing.declaredWeightKg != null || crossing.weightKg != null) && (
        <div>
          <dt>{t('crossing.weight')}</dt>
          <dd>
            {t('crossing.declared')} {crossing.declaredWeightKg != null ? t('unit.kg', { value: number(crossing.declaredWeightKg) }) : '—'} · {t('crossing.measured')}{' '}
            {crossing.weightKg != null ? t('unit.kg', { value: number(crossing.weightKg) }) : '—'}
            {difference !== null && Math.abs(difference) >= 0.05 && <strong class="deviation"> ({number(difference * 100, { signDisplay: 'always', maximumFractionDigits: 1 })}%)</strong>}
          </dd>
        </div>
        )}
        {crossing.direction && (
          <div>
            <dt>{t('crossing.direction')}</dt>
            <dd>{t(`direction.${crossing.direction}` as 'direction.import')}</dd>
          </div>
        )}
        {channel && (
          <div>
            <dt>{t('crossing.channel')}</dt>
            <dd>
              <span class={`badge channel-${channel}`} data-testid="channel">
                {t(`channel.${channel}`)}
              </span>
              {risk?.modelVersion && <span class="muted small"> {t('crossing.model', { version: risk.modelVersion })}</span>}
              {risk?.reasons && risk.reasons.length > 0 && (
                <ul class="reasons">
                  {risk.reasons.map((reason) => (
                    <li key={reason}>{reason}</li>
                  ))}
                </ul>
              )}
            </dd>
          </div>
        )}
        {crossing.scan && <Scan scan={crossing.scan} />}
      </dl>
      {actions.length > 0 && (
        <div class="actions">
          {actions.map((kind) => (
            <button key={kind} type="button" class="small" onClick={() => onAction(kind)} data-testid={`action-${kind}`} aria-keyshortcuts={ACTION_KEY[kind]}>
              {t(`resolve.${kind}`)} <kbd>{ACTION_KEY[kind].toUpperCase()}</kbd>
            </button>
          ))}
        </div>
      )}
    </article>
  );
}

function ClockIcon() {
  return (
    <svg class="icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.5" />
      <path d="M8 4v4.5l3 1.5" fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}

/** A vehicle in the queue, in one line: the queue can be long and the later steps must stay in view. */
export function QueueChip({ crossing, atStepSec }: { crossing: CrossingView; atStepSec: number }) {
  const { t, duration } = useI18n();
  return (
    <li class={crossing.plate ? 'crossing chip' : 'crossing chip unread'} tabIndex={0} data-crossing={crossing.crossingId} data-plate={crossing.plate ?? ''} data-state={crossing.state} data-testid="crossing" aria-label={t('crossing.label', { plate: crossing.plate ?? t('crossing.unread') })}>
      <span class="plate">{crossing.plate ?? t('crossing.unread')}</span> <span class="muted small">{Number.isFinite(atStepSec) ? duration(atStepSec) : '—'}</span>
    </li>
  );
}

function Scan({ scan }: { scan: NonNullable<CrossingView['scan']> }) {
  const { t, number } = useI18n();
  const regions: Region[] = scan.regions ?? scan.screening?.regions ?? [];
  const width = scan.imageWidth ?? 256;
  const height = scan.imageHeight ?? 128;
  const status = scan.status ?? scan.result ?? 'unknown';
  return (
    <div>
      <dt>{t('crossing.xray')}</dt>
      <dd>
        <span class={`badge scan-${status}`}>{t(`scan.${status}` as 'scan.clear')}</span>
        {scan.screening?.modelVersion && <span class="muted small"> {t('crossing.model', { version: scan.screening.modelVersion })}</span>}
        {scan.screening?.score != null && <span class="muted small"> {t('crossing.score', { value: number(scan.screening.score, { maximumFractionDigits: 2 }) })}</span>}
        {(scan.thumbnailUrl || regions.length > 0) && (
          <figure class="xray">
            {scan.thumbnailUrl ? <img src={scan.thumbnailUrl} alt={t('crossing.xrayImage')} /> : <div class="xray-blank" role="img" aria-label={t('crossing.xrayNoImage')} />}
            <svg viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" aria-hidden="true" data-testid="xray-regions">
              {regions.map((r, i) => (
                <rect key={i} x={r.x} y={r.y} width={r.width} height={r.height} class="region" />
              ))}
            </svg>
            <figcaption class="muted small">{t('crossing.regions', { count: regions.length })}</figcaption>
          </figure>
        )}
      </dd>
    </div>
  );
}
