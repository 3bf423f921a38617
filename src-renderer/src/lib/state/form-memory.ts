// What a view's form held when the user left the view, so switching views (which unmounts the view)
// does not empty it. In memory only: a reload starts from the defaults again.
const kept = new Map<string, object>()

/** The values kept for a form (nothing on first use); a view starts each field from here, else its default. */
export function keptForm<T extends object>(form: string): Partial<T> {
  return (kept.get(form) ?? {}) as Partial<T>
}

/** Keep a form's current values (a plain snapshot, not the view's reactive state). */
export function keepForm(form: string, values: object): void {
  kept.set(form, values)
}
