"""The browser bench's floor moved by a selectbox (bench/bench_browser.py; see bench/floor_page.py).

Most labs' main control is a selectbox, and a select move costs the browser more than a slider's
key press (the list opens, then closes and the box redraws): this page is bench/floor_page.py with
its slider swapped for a selectbox of five sizes, so a lab's select moves have a floor of their own.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.title("Floor: one selectbox, one figure")
n = st.selectbox("points", [10, 20, 50, 100, 200], index=2)
x = np.linspace(0.0, 1.0, n)
st.plotly_chart(go.Figure(go.Scatter(x=x, y=np.sin(2 * np.pi * 3 * x))), config={"displaylogo": False})
