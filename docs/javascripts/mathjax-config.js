// MathJax 3, served from this site (assets/mathjax/tex-svg.js, copied from a PyPI package).
// It typesets the pages' maths (pymdownx.arithmatex, class "arithmatex") and the notebooks'
// Markdown cells, and leaves everything else alone.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown|jp-MarkdownOutput",
  },
  svg: { fontCache: "global" },
};
