// Modules declare their parameters by shape when built and get values later, either from a seeded
// initialiser or straight from a checkpoint. So a 224M-parameter model can be counted and inspected
// without allocating it, and loading never wastes time on a random init first.
import { tf } from '../engine/backend.js';

/** How a parameter is initialised when no checkpoint provides it ('normal': the model's initializer range). */
export type Init = { kind: 'normal' } | { kind: 'zeros' } | { kind: 'ones' } | { kind: 'constant'; value: number };

export class Parameter {
  private variable?: tf.Variable;

  constructor(
    readonly shape: readonly number[],
    readonly init: Init,
  ) {}

  /** A Parameter around an existing variable (benchmarks and tests that build variables directly). */
  static wrap(variable: tf.Variable): Parameter {
    const p = new Parameter(variable.shape, { kind: 'zeros' });
    p.variable = variable;
    return p;
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get materialized(): boolean {
    return this.variable !== undefined;
  }

  /** The value; throws if the model was neither initialised nor loaded. */
  get value(): tf.Variable {
    if (!this.variable) throw new Error('parameter used before initParameters() or loading weights');
    return this.variable;
  }

  /** Sets the value (copying `data`), creating the variable on first use. */
  assign(data: Float32Array, trainable = true): void {
    if (data.length !== this.size) throw new Error(`expected ${this.size} values for shape [${this.shape.join(',')}], got ${data.length}`);
    const t = tf.tensor(data, [...this.shape], 'float32');
    if (this.variable) {
      this.variable.assign(t);
      t.dispose();
    } else {
      this.variable = tf.variable(t, trainable);
      t.dispose();
    }
  }

  dispose(): void {
    this.variable?.dispose();
    this.variable = undefined;
  }
}

export class Module {
  private readonly params = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();
  private readonly aliases = new Map<string, Parameter>();

  protected param(name: string, shape: readonly number[], init: Init): Parameter {
    return this.share(name, new Parameter(shape, init));
  }

  /** Registers an existing Parameter under this module, e.g. one shared with another module. */
  protected share(name: string, parameter: Parameter): Parameter {
    if (this.params.has(name) || this.children.has(name)) throw new Error(`duplicate member "${name}"`);
    this.params.set(name, parameter);
    return parameter;
  }

  /**
   * A second checkpoint key for a parameter declared elsewhere in the model (HF stores the LM-head
   * bias as both `bias` and `decoder.bias`). Loading accepts it; saving writes it, for HF tools.
   */
  protected alias(name: string, parameter: Parameter): void {
    this.aliases.set(name, parameter);
  }

  protected child<M extends Module>(name: string, module: M): M {
    if (this.params.has(name) || this.children.has(name)) throw new Error(`duplicate member "${name}"`);
    this.children.set(name, module);
    return module;
  }

  /**
   * Every parameter under its dotted name (the Hugging Face key). A parameter shared by several
   * modules is listed once, under the first name met in declaration order.
   */
  namedParameters(): Map<string, Parameter> {
    const out = new Map<string, Parameter>();
    const seen = new Set<Parameter>();
    const walk = (module: Module, prefix: string): void => {
      for (const [name, p] of module.params) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.set(prefix + name, p);
      }
      for (const [name, c] of module.children) walk(c, `${prefix}${name}.`);
    };
    walk(this, '');
    return out;
  }

  /** Alias key → the key it stands for. */
  namedAliases(): Map<string, string> {
    const canonical = new Map<Parameter, string>();
    for (const [name, p] of this.namedParameters()) canonical.set(p, name);
    const out = new Map<string, string>();
    const walk = (module: Module, prefix: string): void => {
      for (const [name, p] of module.aliases) out.set(prefix + name, canonical.get(p)!);
      for (const [name, c] of module.children) walk(c, `${prefix}${name}.`);
    };
    walk(this, '');
    return out;
  }

  /** Named sub-modules, for reports (parameters per module). */
  namedChildren(): Map<string, Module> {
    return new Map(this.children);
  }

  parameterCount(): number {
    let n = 0;
    for (const p of this.namedParameters().values()) n += p.size;
    return n;
  }

  /** Frees every parameter's memory. */
  dispose(): void {
    for (const p of this.namedParameters().values()) p.dispose();
  }
}

/** An indexed list of modules, named 0, 1, … as PyTorch's nn.ModuleList. */
export class ModuleList<M extends Module> extends Module {
  constructor(readonly items: readonly M[]) {
    super();
    items.forEach((m, i) => this.child(String(i), m));
  }
}
