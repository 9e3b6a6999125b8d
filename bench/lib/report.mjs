const fmt = (v, digits = 0) =>
  Number.isFinite(v)
    ? v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "–";

/** The markdown table: one row per scenario and target, with the ratios against the goals. */
export function markdownReport(results) {
  const lines = [
    `# Benchmark results ${results.date}`,
    "",
    `Machine: ${results.machine.cpu} (${results.machine.cores} cores), ${results.machine.os}, Node ${results.machine.node}. ` +
      `Command: \`${results.command}\`. Server on core ${results.machine.serverCore}, load generator on core ${results.machine.loadgenCore}; ` +
      "each figure is the median of alternating rounds (their number is given per scenario).",
    "",
  ];
  const start = results.machine.speedAtStart;
  if (start !== undefined) {
    lines.push(
      `Speed probe (a fixed piece of JSON and buffer work, units per ms) at the start: server core ${fmt(start.serverCore)}, ` +
        `load generator core ${fmt(start.loadgenCore)}. Each scenario gives the probe before and after it relative to these: ` +
        "the host is a shared VM, and a scenario run while it was slower says so.",
      "",
    );
  }
  for (const s of results.scenarios) {
    lines.push(`## ${s.title}`, "", `${s.description} Median of ${s.rounds} alternating round(s).`, "");
    if (s.speed !== undefined && start !== undefined) {
      const rel = (probe, core) => fmt(probe[core] / start[core], 2);
      lines.push(
        `Speed probe before → after, relative to the start: server core ${rel(s.speed.before, "serverCore")} → ${rel(s.speed.after, "serverCore")}, ` +
          `load generator core ${rel(s.speed.before, "loadgenCore")} → ${rel(s.speed.after, "loadgenCore")}.`,
        "",
      );
    }
    const columns = s.columns;
    lines.push(`| target | ${columns.map((c) => c.label).join(" | ")} | server CPU | load generator CPU |`);
    lines.push(`|---|${columns.map(() => "---:").join("|")}|---:|---:|`);
    for (const t of s.targets) {
      if (t.unavailable !== undefined) {
        lines.push(`| ${t.name} | ${t.unavailable} |${columns.map(() => "").join("|")}|  |`);
        continue;
      }
      if (t.error !== undefined) {
        lines.push(
          `| ${t.name} | error: ${t.error.split("\n")[0].slice(0, 120)} |${columns.map(() => "").join("|")}|  |`,
        );
        continue;
      }
      const m = t.median;
      lines.push(
        `| ${t.name} | ${columns.map((c) => (c.byRound ? t.rounds.map((r) => fmt(r[c.key], c.digits ?? 0)).join(" / ") : fmt(m[c.key], c.digits ?? 0))).join(" | ")} | ${fmt((m.serverCpu ?? m.idleCpu) * 100)} % | ${fmt(m.loadgenCpu * 100)} % |`,
      );
    }
    const loaded = s.targets.filter((t) => t.nearCapacity !== undefined);
    if (loaded.length > 0) {
      lines.push(
        "",
        `Near or over capacity at the ${fmt(s.offeredPerSec)} deliveries/s offered — their latency is mostly queueing, and a ratio with them compares overloads: ` +
          `${loaded.map((t) => `${t.name} (${t.nearCapacity})`).join("; ")}.`,
      );
    }
    if (s.ratios.length > 0) {
      lines.push("", "| ratio | measured | goal | met |", "|---|---:|---|---|");
      for (const r of s.ratios) {
        let met = r.goal === undefined || !Number.isFinite(r.value) ? "" : r.met ? "yes" : "**no**";
        if (Number.isFinite(r.value) && r.nearCapacity?.length > 0)
          met = `${met} (${r.nearCapacity.join(", ")} near capacity)`.trim();
        lines.push(`| ${r.label} | ${fmt(r.value, 2)} | ${r.goal ?? ""} | ${met} |`);
      }
    }
    lines.push("");
  }
  return lines.join("\n");
}

const escapeXml = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A dependency-free SVG: one panel per scenario, horizontal bars of the headline figure. */
export function svgChart(results) {
  const width = 760;
  const barHeight = 18;
  const labelWidth = 150;
  const valueWidth = 150;
  const panels = results.scenarios
    .map((s) => ({
      title: `${s.title} — ${s.headline.label}`,
      lowerIsBetter: s.headline.lowerIsBetter,
      bars: s.targets
        .filter((t) => t.median !== undefined && Number.isFinite(t.median[s.headline.key]))
        .map((t) => ({ label: t.name, value: t.median[s.headline.key], digits: s.headline.digits ?? 0 })),
    }))
    .filter((p) => p.bars.length > 0);
  let y = 40;
  const parts = [];
  for (const panel of panels) {
    parts.push(
      `<text x="10" y="${y}" font-weight="bold">${escapeXml(panel.title)}${panel.lowerIsBetter ? " (lower is better)" : ""}</text>`,
    );
    y += 8;
    const max = Math.max(...panel.bars.map((b) => b.value));
    for (const bar of panel.bars) {
      const w = max > 0 ? ((width - labelWidth - valueWidth - 20) * bar.value) / max : 0;
      const fill = bar.label.startsWith("gateway") ? "#2563eb" : "#9ca3af";
      parts.push(
        `<text x="${labelWidth}" y="${y + 13}" text-anchor="end">${escapeXml(bar.label)}</text>`,
        `<rect x="${labelWidth + 8}" y="${y}" width="${w.toFixed(1)}" height="${barHeight - 4}" fill="${fill}"/>`,
        `<text x="${labelWidth + 14 + w}" y="${y + 13}">${escapeXml(fmt(bar.value, bar.digits))}</text>`,
      );
      y += barHeight;
    }
    y += 22;
  }
  const header = `circl-bff benchmark ${results.date} — ${results.machine.cpu}, server pinned to one core`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>${escapeXml(header)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(header)}</text>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
