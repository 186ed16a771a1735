"""Engine data -> plotly figures (or DOT/Mermaid text). Never calls streamlit."""
