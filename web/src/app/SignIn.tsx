import { useId, useState, type FormEvent } from 'react';
import { ErrorMessage } from '../shared/ErrorMessage';
import { usePageTitle } from '../shared/usePageTitle';
import type { ApiError } from './api';
import { useSession } from './session';

export function SignIn({ message }: { message?: string }) {
  usePageTitle('Sign in');
  const { signIn } = useSession();
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const hintId = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    const value = token.trim();
    if (!value) {
      setError(null);
      return;
    }
    setBusy(true);
    setError(null);
    const err = await signIn(value);
    setBusy(false);
    if (err) setError(err);
  }

  return (
    <div className="signin-page">
      <main id="main" className="signin-card">
        <h1>Sign in</h1>
        <p className="muted">KYC users console: bulk import and export of users.</p>
        {message && !error && (
          <p className="notice" role="status">
            {message}
          </p>
        )}
        <form onSubmit={(e) => void submit(e)} noValidate>
          <div className="field">
            <label htmlFor="operator-token">Operator token</label>
            <input
              id="operator-token"
              name="token"
              type="password"
              autoComplete="off"
              spellCheck={false}
              required
              value={token}
              onChange={(e) => setToken(e.target.value)}
              aria-describedby={hintId}
              aria-invalid={error ? true : undefined}
            />
            <p id={hintId} className="hint">
              The token printed when your operator account was created (or use the sign-in link). It is kept only in this
              browser tab.
            </p>
          </div>
          <button type="submit" className="primary" disabled={busy}>
            Sign in
          </button>
          <div aria-live="polite" className="sr-live">
            {busy ? 'Checking the token…' : ''}
          </div>
        </form>
        {error && (
          <ErrorMessage
            error={error}
            title={error.status === 401 ? 'That token is not valid.' : 'Could not sign in.'}
          />
        )}
      </main>
    </div>
  );
}
