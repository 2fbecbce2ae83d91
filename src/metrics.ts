/**
 * @module metrics
 * Counters and histograms in the Prometheus text format (version 0.0.4). Written here rather
 * than taken from prom-client: the server needs three metric kinds and one output format, and
 * prom-client would be the only runtime dependency besides Elysia, built around Node's cluster
 * and perf_hooks modules that a compiled Bun binary does not need.
 */

type Labels = Record<string, string>
const labelText = (labels: Labels) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}
/** A series' identity: label values in the caller's order (each metric is always called with the same names). */
const keyOf = (labels: Labels) => Object.values(labels).join('\u0000')

export class Counter {
  readonly #values = new Map<string, { labels: Labels; value: number }>()
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    this.series(labels).value += by
  }
  /** The series for `labels`, to keep and add to directly on a hot path (no lookup per call). */
  series(labels: Labels): { value: number } {
    const key = keyOf(labels)
    let entry = this.#values.get(key)
    if (!entry) this.#values.set(key, (entry = { labels, value: 0 }))
    return entry
  }
  get(labels: Labels = {}): number {
    return this.#values.get(keyOf(labels))?.value ?? 0
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`]
    if (this.#values.size === 0) lines.push(`${this.name} 0`)
    for (const { labels, value } of this.#values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`)
    return lines
  }
}

export class Histogram {
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>()
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  /** An observer for one label set, to keep on a hot path (no lookup per call). */
  series(labels: Labels): (value: number) => void {
    const key = keyOf(labels)
    let series = this.#series.get(key)
    if (!series) this.#series.set(key, (series = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }))
    const { buckets } = this
    const entry = series
    return (value) => {
      for (let i = 0; i < buckets.length; i++) if (value <= buckets[i]!) entry.counts[i]!++
      entry.sum += value
      entry.count++
    }
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    for (const { labels, counts, sum, count } of this.#series.values()) {
      this.buckets.forEach((bound, i) => lines.push(`${this.name}_bucket${labelText({ ...labels, le: String(bound) })} ${counts[i]}`))
      lines.push(`${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}`)
      lines.push(`${this.name}_sum${labelText(labels)} ${sum}`, `${this.name}_count${labelText(labels)} ${count}`)
    }
    return lines
  }
}

/**
 * A gauge holding the last value set: a scrape only reads it, so whatever measures the value
 * (e.g. counting stored records) runs off the scrape path, at its own pace. NaN until first set.
 */
export class Gauge {
  value = NaN
  constructor(readonly name: string, readonly help: string) {}
  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.value}`]
  }
}

export function renderMetrics(metrics: (Counter | Histogram | Gauge)[]): string {
  return metrics.flatMap((metric) => metric.render()).join('\n') + '\n'
}
