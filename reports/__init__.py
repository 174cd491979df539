"""The daily report for leadership and the indicator feeds (issue 13): what reads
`shared.indicator_value` and hands it to people and systems.

- `data`: one day's indicator rows for a division and what lies under it, named from the
  city's reference data;
- `callouts`: the plain-Chinese sentences about what needs attention;
- `charts`: matplotlib figures as inline SVG (text drawn as paths with the CJK font);
- `fonts`: the CJK font on this machine and a subset of it for the HTML;
- `render`: the Jinja2 template (autoescaped) into one self-contained HTML file, and its PDF;
- `feeds`: CSV (UTF-8 with BOM, formulas neutralised), Parquet and JSON with a manifest;
- `delivery`: e-mail and webhook per recipient, retried, every attempt audited;
- `build`: the one entry point the CLI and the DAG call.
"""
