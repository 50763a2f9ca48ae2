// HTML built by a tagged template that escapes every interpolated value, so a caption, a question or a
// recipe holding markup is shown as text; only fragments made by `html` itself (or `raw`) pass through.

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Value = Html | string | number | undefined | null | false | readonly Value[];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function render(value: Value): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Html(out);
}

/** Markup passed through unescaped: the page's own scripts and styles only. */
export function raw(text: string): Html {
  return new Html(text);
}

/** Code placed inside <script>: a "</script" in it (in a string or regex, where "<\\/" means the same) would end the element. */
export function scriptText(text: string): Html {
  return new Html(text.replace(/<\/(script)/gi, '<\\/$1'));
}

/** JSON placed inside <script type="application/json">: every "<" escaped, so no markup can close it. */
export function jsonScript(value: unknown): Html {
  return new Html(JSON.stringify(value).replace(/</g, '\\u003c'));
}
