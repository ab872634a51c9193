// Notifications in one live region: connection trouble (with a retry button) and job outcomes.
import { useI18n } from '../i18n';

export interface Toast {
  id: string;
  kind: 'info' | 'error' | 'success';
  text: string;
  action?: { label: string; run: () => void };
}

export function Toasts({ toasts, dismiss }: { toasts: Toast[]; dismiss: (id: string) => void }) {
  const { t } = useI18n();
  return (
    <div className="toasts" role="region" aria-live="polite" aria-label="notifications">
      {toasts.map((toast) => (
        <div
          key={toast.id}
          className={'toast ' + toast.kind}
          role={toast.kind === 'error' ? 'alert' : 'status'}
          data-testid={'toast-' + toast.id}
        >
          <span>{toast.text}</span>
          {toast.action && (
            <button type="button" onClick={toast.action.run}>
              {toast.action.label}
            </button>
          )}
          <button
            type="button"
            className="ghost"
            aria-label={t('toast.dismiss')}
            onClick={() => dismiss(toast.id)}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
