"""Stream analytics: pure decision functions over events, run by both the Faust and the embedded runtime."""
