/**
 * Just enough JSON Schema (the parts openapi.ts uses: type, properties, required, additionalProperties,
 * items, enum, oneOf, allOf, $ref) to check the API's real answers against its OpenAPI document.
 */
type Schema = { [k: string]: unknown };

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** The problems with `v` under `schema` (empty: it conforms). */
export function check(doc: Schema, schema: Schema, v: unknown, at = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const target = schema.$ref.replace(/^#\//, '').split('/').reduce<unknown>((o, k) => (o as Schema)[k], doc);
    return check(doc, target as Schema, v, at);
  }
  const problems: string[] = [];
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type as string[] : [schema.type as string];
    const t = typeOf(v);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [`${at}: ${t}, expected ${types.join('|')}`];
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(v)) problems.push(`${at}: ${JSON.stringify(v)} is not one of ${JSON.stringify(schema.enum)}`);
  if (Array.isArray(schema.oneOf) && (schema.oneOf as Schema[]).filter((s) => check(doc, s, v, at).length === 0).length !== 1) problems.push(`${at}: matches not exactly one of oneOf`);
  if (Array.isArray(schema.allOf)) for (const s of schema.allOf as Schema[]) problems.push(...check(doc, s, v, at));
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) if (!(r in o)) problems.push(`${at}: '${r}' is missing`);
    for (const [k, x] of Object.entries(o)) {
      if (props[k] !== undefined) problems.push(...check(doc, props[k], x, `${at}.${k}`));
      else if (schema.additionalProperties === false) problems.push(`${at}: '${k}' is not in the schema`);
    }
  }
  if (typeOf(v) === 'array' && schema.items !== undefined) (v as unknown[]).forEach((x, i) => problems.push(...check(doc, schema.items as Schema, x, `${at}[${i}]`)));
  return problems;
}
