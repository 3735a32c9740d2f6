/** Passing messages (an action done, an alarm raised), announced to screen readers. */
import { useI18n } from '../i18n/index.js';

export interface Toast {
  id: number;
  kind: 'ok' | 'alarm' | 'error';
  text: string;
  /** An alarm's code: titled from the catalogues as the board's alarm panel titles it, the code as tooltip. */
  code?: string;
}

export function Toasts({ toasts }: { toasts: Toast[] }) {
  const { t, alarmLabel } = useI18n();
  return (
    <div class="toasts" role="status" aria-live="polite" aria-label={t('toasts.label')}>
      {toasts.map((toast) => (
        <div key={toast.id} class={`toast toast-${toast.kind}`} data-kind={toast.kind} data-code={toast.code}>
          {toast.code !== undefined && (
            <strong class="toast-title" title={toast.code}>
              {alarmLabel(toast.code)}
            </strong>
          )}
          <span class="toast-text">{toast.text}</span>
        </div>
      ))}
    </div>
  );
}
