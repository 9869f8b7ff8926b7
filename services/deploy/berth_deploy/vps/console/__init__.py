"""A VPS's root console in the browser: single-use console tokens, the WebSocket relay to
the machine's console socket, and the audit of every session (README: "VPS console")."""
