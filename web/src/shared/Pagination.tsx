import { useCallback, useState } from 'react';

/** Cursor paging with a stack of the cursors seen, so "Previous" works without the API paging backwards. */
export function useCursorPages() {
  const [stack, setStack] = useState<(string | undefined)[]>([undefined]);
  const cursor = stack[stack.length - 1];
  const next = useCallback((nextCursor: string) => setStack((s) => [...s, nextCursor]), []);
  const previous = useCallback(() => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)), []);
  const reset = useCallback(() => setStack([undefined]), []);
  return { cursor, page: stack.length, hasPrevious: stack.length > 1, next, previous, reset };
}

export type CursorPages = ReturnType<typeof useCursorPages>;

export function Pagination({
  pages,
  nextCursor,
  label,
  totalPages,
  busy,
}: {
  pages: CursorPages;
  nextCursor: string | null | undefined;
  label: string;
  totalPages?: number;
  busy?: boolean;
}) {
  if (!pages.hasPrevious && !nextCursor) return null;
  return (
    <nav className="pagination" aria-label={label}>
      <button type="button" onClick={pages.previous} disabled={!pages.hasPrevious || busy}>
        Previous
      </button>
      <span aria-live="polite">
        Page {pages.page}
        {totalPages !== undefined && totalPages > 0 ? ` of ${totalPages.toLocaleString()}` : ''}
      </span>
      <button type="button" onClick={() => nextCursor && pages.next(nextCursor)} disabled={!nextCursor || busy}>
        Next
      </button>
    </nav>
  );
}
