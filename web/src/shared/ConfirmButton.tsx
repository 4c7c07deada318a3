import { useId, useRef, type ReactNode } from 'react';

/**
 * A button that asks first: it opens a modal `<dialog>` (focus kept inside, Escape closes it) with `title`, the
 * `children` as the question's details, and two buttons; `onConfirm` runs only on `confirmLabel`.
 */
export function ConfirmButton({
  label,
  title,
  confirmLabel,
  cancelLabel = 'Go back',
  onConfirm,
  disabled,
  className,
  children,
}: {
  label: string;
  title: string;
  confirmLabel: string;
  cancelLabel?: string;
  onConfirm: () => void;
  disabled?: boolean;
  className?: string;
  children: ReactNode;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const headingId = useId();
  return (
    <>
      <button type="button" className={className} disabled={disabled} onClick={() => dialog.current?.showModal()}>
        {label}
      </button>
      <dialog ref={dialog} aria-labelledby={headingId} className="confirm-dialog">
        <h2 id={headingId}>{title}</h2>
        {children}
        <div className="actions">
          <button
            type="button"
            className={className ?? 'primary'}
            onClick={() => {
              dialog.current?.close();
              onConfirm();
            }}
          >
            {confirmLabel}
          </button>
          <button type="button" onClick={() => dialog.current?.close()}>
            {cancelLabel}
          </button>
        </div>
      </dialog>
    </>
  );
}
