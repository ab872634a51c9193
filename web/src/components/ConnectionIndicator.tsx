import { useI18n } from '../i18n';
import type { ConnectionState } from '../push';

export function ConnectionIndicator({ state, polling }: { state: ConnectionState; polling: boolean }) {
  const { t } = useI18n();
  const text = {
    open: t('conn.open'),
    connecting: t('conn.connecting'),
    reconnecting: t('conn.reconnecting'),
    stopped: t('conn.stopped'),
  }[state];
  return (
    <div
      className={'conn conn-' + state}
      role="status"
      aria-label={t('conn.label')}
      data-testid="connection"
      data-state={state}
      title={polling ? t('conn.polling') : text}
    >
      <span className="dot" aria-hidden="true" />
      {text}
      {polling && <span className="polling"> · {t('conn.polling')}</span>}
    </div>
  );
}
