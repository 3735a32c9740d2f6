/**
 * The lanes board: one column per lane with its devices, barrier, alarms (each with the action
 * that resolves it) and the vehicle at each step. Keyboard: 1–9 go to a lane, ↑/↓ (or k/j) move
 * between its vehicles, the action letters act on the focused vehicle, B on its lane's barrier.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ACTION_KEY, ACTION_PERMISSION, actionFits, targetNow, type ActionKind, type ActionTarget } from '../actions.js';
import type { Api } from '../api.js';
import type { Snapshot } from '../app.js';
import { arrivedAt, postNow, stepOf, stepSince, useNow } from '../clock.js';
import { useI18n } from '../i18n/index.js';
import type { LiveAlarm } from '../live.js';
import { may } from '../permissions.js';
import { STEPS, type AlarmView, type CrossingView, type LaneView, type SessionView } from '../types.js';
import { ActionDialog } from './action-dialog.js';
import { CrossingCard, QueueChip } from './crossing-card.js';
import { LaneStatus } from './lane-status.js';
import type { Toast } from './toasts.js';

const CROSSING_ACTIONS: ActionKind[] = ['plate', 'weight', 'channel', 'inspection', 'release'];

export function Board({ api, session, snapshot, liveAlarms, toast }: { api: Api; session: SessionView; snapshot: Snapshot; liveAlarms: LiveAlarm[]; toast: (toast: Omit<Toast, 'id'>) => void }) {
  const { t } = useI18n();
  const now = useNow(1000);
  const [target, setTarget] = useState<ActionTarget | null>(null);
  const allowed = useCallback((kind: ActionKind) => may(session.role, ACTION_PERMISSION[kind]), [session.role]);
  const boardRef = useRef<HTMLDivElement>(null);

  const open = useCallback((kind: ActionKind, laneId: string, crossing: CrossingView | null) => {
    if (allowed(kind)) setTarget({ kind, laneId, crossing });
  }, [allowed]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent): void => {
      if (target || event.altKey || event.ctrlKey || event.metaKey) return;
      const el = event.target as HTMLElement;
      if (el.closest('input, textarea, select, dialog')) return;
      const board = boardRef.current;
      if (!board) return;
      if (/^[1-9]$/.test(event.key)) {
        const lane = board.querySelectorAll<HTMLElement>('.lane')[Number(event.key) - 1];
        (lane?.querySelector<HTMLElement>('.crossing') ?? lane)?.focus();
        event.preventDefault();
        return;
      }
      const card = el.closest<HTMLElement>('.crossing');
      const lane = el.closest<HTMLElement>('.lane');
      if (['ArrowDown', 'ArrowUp', 'j', 'k'].includes(event.key) && lane) {
        const cards = [...lane.querySelectorAll<HTMLElement>('.crossing')];
        const index = card ? cards.indexOf(card) : -1;
        const next = cards[event.key === 'ArrowDown' || event.key === 'j' ? index + 1 : Math.max(0, index - 1)];
        next?.focus();
        event.preventDefault();
        return;
      }
      const kind = (Object.entries(ACTION_KEY) as [ActionKind, string][]).find(([, key]) => key === event.key.toLowerCase())?.[0];
      if (!kind || !lane) return;
      const laneView = snapshot.lanes.find((l) => l.laneId === lane.dataset.lane);
      if (!laneView) return;
      if (kind === 'barrier') {
        open('barrier', laneView.laneId, null);
        event.preventDefault();
        return;
      }
      const crossing = card && laneView.crossings.find((c) => c.crossingId === card.dataset.crossing);
      if (crossing && actionFits(kind, crossing)) {
        open(kind, laneView.laneId, crossing);
        event.preventDefault();
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [target, snapshot, open]);

  if (snapshot.lanes.length === 0) return <p class="notice">{t('board.empty')}</p>;

  return (
    <>
      <div class="board" ref={boardRef} style={{ gridTemplateColumns: `repeat(${snapshot.lanes.length}, minmax(0, 1fr))` }}>
        {snapshot.lanes.map((lane, index) => (
          <LaneColumn
            key={lane.laneId}
            lane={lane}
            index={index}
            now={postNow(lane, snapshot.receivedAt, now)}
            alarms={lane.alarms ?? liveAlarms.filter((a) => a.laneId === lane.laneId)}
            allowed={allowed}
            open={open}
          />
        ))}
      </div>
      <Shortcuts allowed={allowed} />
      {target && (
        <ActionDialog
          api={api}
          target={target}
          now={targetNow(target, snapshot.lanes)}
          onClose={() => setTarget(null)}
          onDone={(text) => {
            setTarget(null);
            toast({ kind: 'ok', text });
          }}
        />
      )}
    </>
  );
}

function LaneColumn({ lane, index, now, alarms, allowed, open }: { lane: LaneView; index: number; now: number; alarms: AlarmView[]; allowed: (kind: ActionKind) => boolean; open: (kind: ActionKind, laneId: string, crossing: CrossingView | null) => void }) {
  const { t, duration, alarmLabel } = useI18n();
  const byStep = new Map<string, CrossingView[]>();
  for (const crossing of lane.crossings) {
    const step = stepOf(crossing);
    byStep.set(step, [...(byStep.get(step) ?? []), crossing]);
  }
  const unresolved = alarms;
  return (
    <section class="lane" data-lane={lane.laneId} data-testid={`lane-${lane.laneId}`} tabIndex={-1} aria-labelledby={`lane-title-${lane.laneId}`}>
      <header class="lane-head">
        <h2 id={`lane-title-${lane.laneId}`}>
          <kbd>{index + 1}</kbd> {lane.name ?? lane.laneId} <span class="muted">({lane.laneId})</span>
        </h2>
        <LaneStatus lane={lane} canBarrier={allowed('barrier')} onBarrier={() => open('barrier', lane.laneId, null)} />
      </header>
      {unresolved.length > 0 && (
        <section class="alarms" aria-label={t('alarms.title')} data-testid={`alarms-${lane.laneId}`}>
          <h3>{t('alarms.title')}</h3>
          <ul>
            {unresolved.map((alarm) => {
              const crossing = alarm.crossingId ? (lane.crossings.find((c) => c.crossingId === alarm.crossingId) ?? null) : null;
              const kind = alarm.resolvedBy;
              const fits = kind !== null && (kind === 'barrier' || crossing !== null);
              return (
                <li key={`${alarm.code}-${alarm.at}-${alarm.crossingId ?? ''}`} class="alarm" data-code={alarm.code} data-alarm-crossing={alarm.crossingId ?? undefined}>
                  <span class="alarm-code" title={alarm.code}>{alarmLabel(alarm.code)}</span>
                  <span class="alarm-message">{alarm.message}</span>
                  <span class="muted">{t('alarms.ago', { time: duration((now - Date.parse(alarm.at)) / 1000) })}</span>
                  {kind !== null && fits && allowed(kind) && (
                    <button type="button" class="primary small" data-testid={`resolve-${alarm.code}`} onClick={() => open(kind, lane.laneId, crossing)}>
                      {t(`resolve.${kind}`)}
                    </button>
                  )}
                  {kind !== null && fits && !allowed(kind) && <span class="muted">{t('alarms.needsSupervisor')}</span>}
                  {kind === null && <span class="muted">{t('alarms.noAction')}</span>}
                </li>
              );
            })}
          </ul>
        </section>
      )}
      <ol class="steps">
        {STEPS.filter((step) => step !== 'exit' || byStep.has('exit')).map((step) => (
          <li key={step} class="step" data-step={step}>
            <h3 class="step-name">{t(`step.${step}`)}</h3>
            <div class="step-body">
            {(byStep.get(step) ?? []).length === 0 ? (
              <p class="muted empty">{t('step.empty')}</p>
            ) : step === 'queue' ? (
              <ul class="queue">
                {(byStep.get(step) ?? []).map((crossing) => (
                  <QueueChip key={crossing.crossingId} crossing={crossing} atStepSec={(now - stepSince(crossing)) / 1000} />
                ))}
              </ul>
            ) : (
              (byStep.get(step) ?? []).map((crossing) => (
                <CrossingCard
                  key={crossing.crossingId}
                  crossing={crossing}
                  atStepSec={(now - stepSince(crossing)) / 1000}
                  sinceArrivalSec={(now - arrivedAt(crossing)) / 1000}
                  actions={CROSSING_ACTIONS.filter((kind) => allowed(kind) && actionFits(kind, crossing))}
                  onAction={(kind) => open(kind, lane.laneId, crossing)}
                />
              ))
            )}
            </div>
          </li>
        ))}
      </ol>
    </section>
  );
}

function Shortcuts({ allowed }: { allowed: (kind: ActionKind) => boolean }) {
  const { t } = useI18n();
  const kinds = (Object.keys(ACTION_KEY) as ActionKind[]).filter(allowed);
  return (
    <aside class="shortcuts" aria-label={t('shortcuts.title')}>
      <strong>{t('shortcuts.title')}:</strong> <kbd>1</kbd>–<kbd>9</kbd> {t('shortcuts.lane')} · <kbd>↑</kbd>/<kbd>↓</kbd> {t('shortcuts.vehicle')} ·{' '}
      {kinds.map((kind) => (
        <span key={kind}>
          <kbd>{ACTION_KEY[kind].toUpperCase()}</kbd> {t(`resolve.${kind}`)} ·{' '}
        </span>
      ))}
      <kbd>Esc</kbd> {t('shortcuts.close')} · <kbd>Alt+1–3</kbd> {t('shortcuts.pages')}
    </aside>
  );
}
