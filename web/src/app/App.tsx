import { lazy, Suspense } from 'react';
import { Redirect, Route, Router, Switch, useLocation } from 'wouter';
import { ErrorMessage } from '../shared/ErrorMessage';
import { usePageTitle } from '../shared/usePageTitle';
import { ErrorBoundary } from './ErrorBoundary';
import { Layout } from './Layout';
import { useCan, useSession } from './session';
import { SignIn } from './SignIn';

const ImportPage = lazy(() => import('../features/imports/ImportPage').then((m) => ({ default: m.ImportPage })));
const ImportHistory = lazy(() => import('../features/imports/ImportHistory').then((m) => ({ default: m.ImportHistory })));
const ImportDetail = lazy(() => import('../features/imports/ImportDetail').then((m) => ({ default: m.ImportDetail })));
const ExportPage = lazy(() => import('../features/exports/ExportPage').then((m) => ({ default: m.ExportPage })));
const ExportHistory = lazy(() => import('../features/exports/ExportHistory').then((m) => ({ default: m.ExportHistory })));
const ExportDetail = lazy(() => import('../features/exports/ExportDetail').then((m) => ({ default: m.ExportDetail })));
const WebhooksPage = lazy(() => import('../features/webhooks/WebhooksPage').then((m) => ({ default: m.WebhooksPage })));
const WebhookDeliveries = lazy(() => import('../features/webhooks/WebhookDeliveries').then((m) => ({ default: m.WebhookDeliveries })));
const SchedulesPage = lazy(() => import('../features/schedules/SchedulesPage').then((m) => ({ default: m.SchedulesPage })));
const AuditLog = lazy(() => import('../features/audit/AuditLog').then((m) => ({ default: m.AuditLog })));

function Loading({ what = 'Loading…' }: { what?: string }) {
  return (
    <p className="loading" role="status">
      {what}
    </p>
  );
}

function Home() {
  const can = useCan();
  return <Redirect to={can('imports.write') ? '/imports/new' : '/imports'} replace />;
}

function NotFound() {
  usePageTitle('Not found');
  return (
    <>
      <h1>Page not found</h1>
      <p>There is no console page at this address. Use the navigation above.</p>
    </>
  );
}

function NoAuditAccess() {
  usePageTitle('Audit log');
  return (
    <>
      <h1>Audit log</h1>
      <p className="notice">Your role does not have the audit.read permission, so the audit log is not available to you.</p>
    </>
  );
}

function SignedInRoutes() {
  const can = useCan();
  const [location] = useLocation();
  return (
    <Layout>
      <ErrorBoundary resetKey={location}>
        <Suspense fallback={<Loading />}>
          <Switch>
            <Route path="/" component={Home} />
            <Route path="/imports/new" component={ImportPage} />
            <Route path="/imports" component={ImportHistory} />
            <Route path="/imports/:id">{(params) => <ImportDetail key={params.id} id={params.id} />}</Route>
            <Route path="/exports/new" component={ExportPage} />
            <Route path="/exports" component={ExportHistory} />
            <Route path="/schedules" component={SchedulesPage} />
            <Route path="/exports/:id">{(params) => <ExportDetail key={params.id} id={params.id} />}</Route>
            <Route path="/audit" component={can('audit.read') ? AuditLog : NoAuditAccess} />
            {/* Not /webhooks: /console/webhooks is the API's path, which a reload of the page would reach. */}
            <Route path="/integrations/webhooks" component={WebhooksPage} />
            <Route path="/integrations/webhooks/:id">{(params) => <WebhookDeliveries key={params.id} id={params.id} />}</Route>
            <Route component={NotFound} />
          </Switch>
        </Suspense>
      </ErrorBoundary>
    </Layout>
  );
}

function Unreachable() {
  const { state, retry, signOut } = useSession();
  usePageTitle('API unreachable');
  return (
    <div className="signin-page">
      <main id="main" className="signin-card">
        <h1>Cannot reach the API</h1>
        {state.status === 'unreachable' && <ErrorMessage error={state.error} />}
        <div className="actions">
          <button type="button" className="primary" onClick={retry}>
            Try again
          </button>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </main>
    </div>
  );
}

export function App() {
  const { state } = useSession();
  return (
    <Router base="/console">
      <ErrorBoundary>
        {state.status === 'checking' && (
          <main id="main">
            <Loading what="Signing in…" />
          </main>
        )}
        {state.status === 'signed_out' && <SignIn message={state.message} />}
        {state.status === 'unreachable' && <Unreachable />}
        {state.status === 'signed_in' && <SignedInRoutes />}
      </ErrorBoundary>
    </Router>
  );
}
