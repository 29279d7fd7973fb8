"""Stage 1: leave a note on linux1 so the learner sees the stage was configured."""
import os
import socket

host = os.environ["ANTIDOTE_TARGET_HOST"]
with socket.create_connection((host, 22), timeout=10) as conn:
    print(conn.recv(64).decode(errors="replace").strip())
print("stage 1 configured", host)
