/**
 * The operator's actions on a lane: the permission each needs, the key that opens it, whether it
 * fits a crossing's state, and whether it still does once the live lanes have moved on. Kept apart
 * from the dialogs (components/action-dialog.tsx) so the rules are tested without a browser.
 */
import type { Permission } from './permissions.js';
import type { CrossingView, LaneView } from './types.js';

export type ActionKind = 'plate' | 'weight' | 'channel' | 'inspection' | 'release' | 'barrier';

export const ACTION_PERMISSION: Record<ActionKind, Permission> = {
  plate: 'crossing.plate',
  weight: 'crossing.weight',
  channel: 'crossing.channel',
  inspection: 'crossing.inspection',
  release: 'crossing.release',
  barrier: 'barrier.manual',
};

/** The key that opens each action on a focused vehicle (or lane, for the barrier). */
export const ACTION_KEY: Record<ActionKind, string> = { plate: 'p', weight: 'w', channel: 'c', inspection: 'i', release: 'r', barrier: 'b' };

/** Whether the action fits the crossing's state (the workflow still decides). */
export function actionFits(kind: ActionKind, crossing: CrossingView | null): boolean {
  if (kind === 'barrier') return crossing === null;
  if (!crossing) return false;
  switch (kind) {
    case 'plate':
      return crossing.state !== 'exited';
    case 'weight':
      return crossing.state === 'registered';
    case 'channel':
      return ['risk-assessed', 'scanning', 'inspecting'].includes(crossing.state);
    case 'inspection':
      return crossing.state === 'inspecting';
    case 'release':
      return crossing.state !== 'released' && crossing.state !== 'exited';
  }
}

/** An action as its dialog was opened: the crossing as the board showed it then. */
export interface ActionTarget {
  kind: ActionKind;
  laneId: string;
  crossing: CrossingView | null;
}

/**
 * The target by the lanes as they are now: the crossing as it is now, or why the action no longer
 * applies — it left the lane (`gone`), or its state moved past what the action needs (`moved`).
 * The lane's barrier is always there to work.
 */
export type TargetNow =
  | { applies: true; crossing: CrossingView | null }
  | { applies: false; why: 'gone' }
  | { applies: false; why: 'moved'; crossing: CrossingView };

export function targetNow(target: ActionTarget, lanes: readonly LaneView[]): TargetNow {
  const opened = target.crossing;
  if (opened === null) return { applies: true, crossing: null };
  const crossing = lanes.find((lane) => lane.laneId === target.laneId)?.crossings.find((c) => c.crossingId === opened.crossingId);
  if (!crossing) return { applies: false, why: 'gone' };
  return actionFits(target.kind, crossing) ? { applies: true, crossing } : { applies: false, why: 'moved', crossing };
}
