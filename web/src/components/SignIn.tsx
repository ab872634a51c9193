// Asks for the API key or JWT a server configured with `auth.api_keys_file` or `auth.jwt_jwks_file`
// wants (credentials.ts), once a request was refused for want of one; and, while one is set, offers
// to forget it. Saving reloads the page, so every view asks again with the credential.
import { useState, type FormEvent } from 'react';
import { credentials } from '../credentials';
import { useI18n } from '../i18n';

// Shown when the server refused a request for want of credentials; `reason` is its message.
export function SignInPanel({ reason }: { reason: string }) {
  const { t } = useI18n();
  const [token, setToken] = useState('');
  const hadOne = credentials.get() !== null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!token.trim()) return;
    credentials.set(token);
    window.location.reload();
  };
  return (
    <section className="card signin" aria-labelledby="signin-title" data-testid="signin">
      <h2 id="signin-title">{t('auth.title')}</h2>
      <p className="muted">{hadOne ? t('auth.refused', { message: reason }) : t('auth.needed')}</p>
      <form className="row wrap" onSubmit={submit}>
        <label className="grow">
          <span className="sr-only">{t('auth.token')}</span>
          <input
            type="password"
            autoComplete="off"
            placeholder={t('auth.token')}
            aria-label={t('auth.token')}
            value={token}
            onChange={(e) => setToken(e.target.value)}
            data-testid="signin-token"
          />
        </label>
        <button type="submit" disabled={!token.trim()} data-testid="signin-submit">
          {t('auth.sign_in')}
        </button>
      </form>
      <p className="muted small">{t('auth.kept')}</p>
    </section>
  );
}

// In the header while a credential is set: forgets it and reloads.
export function SignOutButton() {
  const { t } = useI18n();
  if (credentials.get() === null) return null;
  return (
    <button
      type="button"
      className="ghost"
      onClick={() => {
        credentials.set(null);
        window.location.reload();
      }}
      data-testid="signout"
    >
      {t('auth.sign_out')}
    </button>
  );
}
