// Drives terminals of the gateway as antidote-ui-components' terminal does, for the Rust
// tests: each stdin line is a JSON command, each stdout line a JSON event.
//
//   {"op":"open","id":"t1","url":"http://127.0.0.1:PORT","query":{host,port,username,userpassword},"cols":80,"rows":24}
//   {"op":"data","id":"t1","data":"echo hi\r"}      keystrokes
//   {"op":"resize","id":"t1","cols":100,"rows":30}   resize({cols, rows})
//   {"op":"close","id":"t1"}
//
// Events: {"id","event":"connect"|"data"|"ssherror"|"disconnect"|"connect_error"|"error","data"}.
'use strict';

const io = require('socket.io-client');
const readline = require('readline');

const sockets = new Map();

function emit(id, event, data) {
  process.stdout.write(JSON.stringify({ id, event, data: data === undefined ? null : data }) + '\n');
}

function open(command) {
  // As the front end: the gateway's origin, the target and login in the handshake query,
  // socket.io-client 2's defaults (long-polling first, then the websocket upgrade).
  const socket = io(command.url, { query: command.query });
  sockets.set(command.id, socket);
  socket.on('connect', () => {
    emit(command.id, 'connect', socket.io.engine.transport.name);
    // The front end sends its size right after connecting: two arguments.
    socket.emit('geometry', command.cols, command.rows);
  });
  socket.io.engine.on('upgrade', (transport) => emit(command.id, 'upgrade', transport.name));
  socket.on('data', (data) => emit(command.id, 'data', data));
  socket.on('ssherror', (data) => emit(command.id, 'ssherror', data));
  socket.on('disconnect', (reason) => emit(command.id, 'disconnect', reason));
  socket.on('connect_error', (err) => emit(command.id, 'connect_error', String(err)));
  socket.on('error', (err) => emit(command.id, 'error', String(err)));
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (!line.trim()) return;
  const command = JSON.parse(line);
  const socket = sockets.get(command.id);
  switch (command.op) {
    case 'open':
      open(command);
      break;
    case 'data':
      socket.emit('data', command.data);
      break;
    case 'resize':
      socket.emit('resize', { cols: command.cols, rows: command.rows });
      break;
    case 'close':
      socket.close();
      break;
    default:
      emit(command.id, 'error', 'unknown op ' + command.op);
  }
});
lines.on('close', () => process.exit(0));
