"""The stack's floor for the browser bench (bench/bench_browser.py): the least a lab can be.

A bare Streamlit page with nothing of ours — a title, one slider and one plotly figure the slider
drives — served by the same Streamlit, config (.streamlit/config.toml) and browser as the labs. Its
first paint, cold start and action → settled are what the issue's targets are measured against:
no lab can be faster than this page on the same machine.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.title("Floor: one slider, one figure")
n = st.slider("points", 2, 200, 50)
x = np.linspace(0.0, 1.0, n)
st.plotly_chart(go.Figure(go.Scatter(x=x, y=np.sin(2 * np.pi * 3 * x))), config={"displaylogo": False})
