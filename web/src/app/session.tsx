import { useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError, setApiToken, setUnauthorizedHandler } from './api';
import type { Me, Permission } from './types';

const TOKEN_KEY = 'kyc.console.token';
export const SESSION_ENDED = 'Your session ended or the token is not valid; sign in again.';

export type SessionState =
  | { status: 'checking' }
  | { status: 'signed_out'; message?: string }
  | { status: 'unreachable'; error: ApiError }
  | { status: 'signed_in'; me: Me };

interface SessionValue {
  state: SessionState;
  signIn: (token: string) => Promise<ApiError | null>;
  signOut: () => void;
  retry: () => void;
}

const SessionCtx = createContext<SessionValue | null>(null);
const MeCtx = createContext<Me | null>(null);

function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage unavailable: the session lasts as long as the page
  }
}

/** A sign-in link (`#token=...`) carries the token in the fragment, which never reaches a server; take it and drop it. */
function takeTokenFromHash(): string | null {
  const match = /^#(?:.*&)?token=([^&]+)/.exec(window.location.hash);
  if (!match?.[1]) return null;
  let token: string;
  try {
    token = decodeURIComponent(match[1]);
  } catch {
    token = match[1];
  }
  window.history.replaceState(window.history.state, '', window.location.pathname + window.location.search);
  return token;
}

function fetchMe(token: string): Promise<Me> {
  return api<Me>('/console/me', { token, quiet401: true });
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [state, setState] = useState<SessionState>(() => {
    const fromHash = takeTokenFromHash();
    if (fromHash) storeToken(fromHash);
    return storedToken() ? { status: 'checking' } : { status: 'signed_out' };
  });
  const [attempt, setAttempt] = useState(0);

  const endSession = useCallback(
    (message?: string) => {
      storeToken(null);
      setApiToken(null);
      queryClient.clear();
      setState({ status: 'signed_out', message });
    },
    [queryClient],
  );

  // Any 401 from any call ends the session.
  useEffect(() => {
    setUnauthorizedHandler(() => endSession(SESSION_ENDED));
    return () => setUnauthorizedHandler(null);
  }, [endSession]);

  // A sign-in link opened in a tab that shows the console already changes only the fragment: take it then too.
  useEffect(() => {
    function onHash() {
      const token = takeTokenFromHash();
      if (!token) return;
      storeToken(token);
      setApiToken(null);
      queryClient.clear();
      setState({ status: 'checking' });
      setAttempt((n) => n + 1);
    }
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, [queryClient]);

  // A token kept from before (or just taken from the link): check it.
  useEffect(() => {
    if (state.status !== 'checking') return;
    const token = storedToken();
    if (!token) {
      setState({ status: 'signed_out' });
      return;
    }
    let live = true;
    fetchMe(token).then(
      (me) => {
        if (!live) return;
        setApiToken(token);
        setState({ status: 'signed_in', me });
      },
      (err: unknown) => {
        if (!live) return;
        const error = err instanceof ApiError ? err : new ApiError(0, 'network_error', String(err));
        if (error.status === 401) endSession(SESSION_ENDED);
        else setState({ status: 'unreachable', error });
      },
    );
    return () => {
      live = false;
    };
  }, [state.status, attempt, endSession]);

  const signIn = useCallback(
    async (token: string): Promise<ApiError | null> => {
      try {
        const me = await fetchMe(token);
        storeToken(token);
        setApiToken(token);
        queryClient.clear();
        setState({ status: 'signed_in', me });
        return null;
      } catch (err) {
        return err instanceof ApiError ? err : new ApiError(0, 'network_error', String(err));
      }
    },
    [queryClient],
  );

  const signOut = useCallback(() => endSession(), [endSession]);
  const retry = useCallback(() => {
    setState({ status: 'checking' });
    setAttempt((n) => n + 1);
  }, []);

  const value = useMemo(() => ({ state, signIn, signOut, retry }), [state, signIn, signOut, retry]);
  return (
    <SessionCtx.Provider value={value}>
      <MeCtx.Provider value={state.status === 'signed_in' ? state.me : null}>{children}</MeCtx.Provider>
    </SessionCtx.Provider>
  );
}

export function useSession(): SessionValue {
  const value = useContext(SessionCtx);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}

/** The signed-in operator; only used below the signed-in shell. */
export function useMe(): Me {
  const me = useContext(MeCtx);
  if (!me) throw new Error('useMe outside a session');
  return me;
}

/** Whether the signed-in role has a permission (as /console/me lists them). */
export function useCan(): (permission: Permission) => boolean {
  const me = useMe();
  return useCallback((permission: Permission) => me.permissions.includes(permission), [me]);
}
