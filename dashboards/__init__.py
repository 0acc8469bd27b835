"""The Plotly Dash wall display and leaders' panels."""
