// Automatic processing: the server's rules, each with a Subscribe switch for this client. The
// results of a subscribed rule's jobs arrive over the WebSocket like the client's own.
import { useEffect, useState } from 'react';
import { api, ApiError, type Rule } from '../api';
import { useI18n, type MessageKey } from '../i18n';

interface Props {
  clientId: string | null;
  onError: (message: string) => void;
}

export function RulesPanel({ clientId, onError }: Props) {
  const { t } = useI18n();
  const [rules, setRules] = useState<Rule[] | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    api
      .rules(clientId)
      // An unknown client (the page asks for a new one): the rules without subscriptions.
      .catch((e) => (e instanceof ApiError && e.status === 401 ? api.rules(null) : Promise.reject(e)))
      .then(
        (list) => live && setRules(list),
        (e: Error) => {
          // Still 401 without the client: no valid credential, which the sign-in panel asks for.
          if (live && !(e instanceof ApiError && e.status === 401)) onError(e.message);
        },
      );
    return () => {
      live = false;
    };
    // onError is a new function each render; the list depends on the client only.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [clientId]);

  if (rules === null) return null;
  if (rules.length === 0) return <p className="muted">{t('rules.none')}</p>;

  const toggle = async (rule: Rule, on: boolean) => {
    if (!clientId) return;
    const set = (value: boolean) =>
      setRules((old) => old?.map((r) => (r.name === rule.name ? { ...r, subscribed: value } : r)) ?? old);
    setBusy(rule.name);
    set(on); // at once; undone if the server refuses
    try {
      await api.subscribe(rule.name, clientId, on);
    } catch (e) {
      set(!on);
      onError((e as Error).message);
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      <p className="muted">{t('rules.intro')}</p>
      {!clientId && <p className="muted">{t('rules.needs_client')}</p>}
      <ul className="rules" aria-label={t('rules.title')}>
        {rules.map((rule) => (
          <li key={rule.name} className="rule" data-testid="rule" data-rule={rule.name}>
            <div className="row wrap">
              <strong>{rule.name}</strong>
              <span className="spacer" />
              <label className="row">
                <input
                  type="checkbox"
                  role="switch"
                  checked={!!rule.subscribed}
                  disabled={!clientId || busy === rule.name}
                  onChange={(e) => void toggle(rule, e.target.checked)}
                  aria-label={t('rules.subscribe_label', { name: rule.name })}
                  data-testid="rule-subscribe"
                />
                <span>{t('rules.subscribe')}</span>
              </label>
            </div>
            <p className="muted small">
              {Object.entries(rule.when)
                .map(([k, v]) => `${k} = ${v}`)
                .join(', ')}
              {' — '}
              {t('rules.runs', {
                algorithm: rule.algorithm,
                scope: t(('scope.' + rule.scope) as MessageKey).toLowerCase(),
                seconds: rule.quiet_seconds,
              })}
            </p>
          </li>
        ))}
      </ul>
    </>
  );
}
