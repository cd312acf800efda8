// One colour per run, the same in the chart (raw, smoothed and validation lines), its legend, the
// Runs table and the summary: each run prefers the palette slot its id hashes to, so a run keeps
// its colour when other runs are selected or dropped; runs whose slot is taken (in selection
// order) get the next free one. Pure: unit-tested.

/** FNV-1a of the id: a stable slot per run, whatever else is shown. */
export function idHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Palette index of each run shown (in selection order), distinct while there are free slots. */
export function runColorIndices(runIds: readonly string[], paletteSize: number): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>();
  for (const id of runIds) {
    if (out.has(id)) continue;
    const want = idHash(id) % paletteSize;
    let slot = want;
    if (used.size < paletteSize) while (used.has(slot)) slot = (slot + 1) % paletteSize;
    used.add(slot);
    out.set(id, slot);
  }
  return out;
}
