"""Monthly reports: one self-contained HTML file (inline SVG charts) and its tables as CSV."""
