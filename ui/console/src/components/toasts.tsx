/** Passing messages (an action done, an alarm raised), announced to screen readers. */
import { useI18n } from '../i18n/index.js';

export interface Toast {
  id: number;
  kind: 'ok' | 'alarm' | 'error';
  text: string;
}

export function Toasts({ toasts }: { toasts: Toast[] }) {
  const { t } = useI18n();
  return (
    <div class="toasts" role="status" aria-live="polite" aria-label={t('toasts.label')}>
      {toasts.map((toast) => (
        <div key={toast.id} class={`toast toast-${toast.kind}`} data-kind={toast.kind}>
          {toast.text}
        </div>
      ))}
    </div>
  );
}
