import { useEffect, useRef, type ReactNode } from 'react';
import { Link, useLocation, useRoute } from 'wouter';
import { useCan, useMe, useSession } from './session';

/** A nav link, marked current on its page; `section` also marks it on the pages below it (a job's detail page). */
function NavLink({ href, children, section }: { href: string; children: ReactNode; section?: RegExp }) {
  const [exact] = useRoute(href);
  const [location] = useLocation();
  const active = exact || (section?.test(location) ?? false);
  return (
    <Link href={href} className={active ? 'nav-link active' : 'nav-link'} aria-current={exact ? 'page' : undefined}>
      {children}
    </Link>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  const me = useMe();
  const can = useCan();
  const { signOut } = useSession();
  const [location, navigate] = useLocation();
  const mainRef = useRef<HTMLElement>(null);
  const first = useRef(true);

  // After a navigation, put focus on the new page's heading so keyboard and screen-reader users start there.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const id = window.setTimeout(() => {
      const h1 = mainRef.current?.querySelector('h1');
      if (h1 && !mainRef.current?.contains(document.activeElement)) {
        h1.setAttribute('tabindex', '-1');
        h1.focus({ preventScroll: false });
      }
    }, 0);
    return () => window.clearTimeout(id);
  }, [location]);

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="brand">
          <span className="brand-name">KYC users console</span>
          <span className="brand-app">{me.application.name}</span>
        </div>
        <div className="whoami">
          <span>
            <span className="sr-only">Signed in as </span>
            {me.operator.email}
          </span>
          <span className="role-chip" title="Your role">
            {me.operator.role}
          </span>
          <span className="sr-only">in application {me.application.name}</span>
          <button
            type="button"
            onClick={() => {
              // The next operator to sign in starts at the home page, not on this one's last page.
              navigate('/', { replace: true });
              signOut();
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <nav className="mainnav" aria-label="Main">
        {/* API.md's menu: Users → Import and Export (with their histories and the schedules), then the audit log and webhooks. */}
        <ul className="nav-groups">
          <li className="nav-group">
            <span className="nav-group-label" id="nav-users">
              Users
            </span>
            <ul aria-labelledby="nav-users">
              <li>
                <NavLink href="/imports/new">Import users</NavLink>
              </li>
              <li>
                <NavLink href="/imports" section={/^\/imports\/(?!new$)[^/]+$/}>
                  Import history
                </NavLink>
              </li>
              <li>
                <NavLink href="/exports/new">Export users</NavLink>
              </li>
              <li>
                <NavLink href="/exports" section={/^\/exports\/(?!new$)[^/]+$/}>
                  Export history
                </NavLink>
              </li>
              {can('exports.schedules') && (
                <li>
                  <NavLink href="/schedules">Export schedules</NavLink>
                </li>
              )}
            </ul>
          </li>
          {(can('audit.read') || can('webhooks.manage')) && (
            <li className="nav-group">
              <ul aria-label="Administration">
                {can('audit.read') && (
                  <li>
                    <NavLink href="/audit">Audit log</NavLink>
                  </li>
                )}
                {can('webhooks.manage') && (
                  <li>
                    <NavLink href="/integrations/webhooks" section={/^\/integrations\/webhooks\/[^/]+$/}>
                      Webhooks
                    </NavLink>
                  </li>
                )}
              </ul>
            </li>
          )}
        </ul>
      </nav>
      <main id="main" ref={mainRef} tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
