import net from 'node:net';
const srv = net.createServer((s) => { s.on('data', () => {}); });
srv.listen(0, () => {
  const port = srv.address().port;
  const socks = Array.from({ length: 50 }, () => net.connect(port));
  const buf = Buffer.alloc(800, 1);
  const end = Date.now() + 12000;
  const tick = () => { if (Date.now() > end) { socks.forEach(s => s.destroy()); srv.close(); return; } for (const s of socks) s.write(buf); setImmediate(tick); };
  tick();
});
