/** `bonsai serve`: the web console and HTTP API over the store (src/web/, docs/web.md). */
import type { Command } from 'commander';
import { BonsaiError } from '../errors.js';
import { parseHostPort } from '../vm/migrate/client.js';
import type { Store } from '../vm/store/store.js';
import { WebServer } from '../web/server.js';

export const DEFAULT_LISTEN = '127.0.0.1:8480';

/** Whether an address is this host's loopback (only this host's users can reach it). */
export function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || host === 'localhost';
}

export function registerServeCommand(program: Command, store: () => Store): void {
  program
    .command('serve')
    .description('the web console and HTTP API for the VMs in the store (prints the address, with its token)')
    .option('--listen <ADDR:PORT>', 'where to listen (port 0: any free port)', DEFAULT_LISTEN)
    .option('--allow-remote', 'allow an address other hosts can reach (anyone with the token controls every VM)')
    .action(async (o: { listen: string; allowRemote?: boolean }) => {
      const { host, port } = parseHostPort(o.listen, '--listen', '127.0.0.1', true);
      if (!isLoopback(host)) {
        if (o.allowRemote !== true) throw new BonsaiError(`--listen ${o.listen}: not a loopback address; other hosts could reach it (give --allow-remote to mean it)`);
        process.stderr.write(`bonsai: warning: listening on ${host}, reachable from other hosts over plain HTTP: the token is all that guards the VMs\n`);
      }
      const server = new WebServer(store());
      const at = await server.listen({ host, port });
      const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
      process.stdout.write(`bonsai: serving the VMs in ${store().home} at http://${shown}:${at.port}/\nbonsai: open http://${shown}:${at.port}/?token=${server.token}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(); };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await server.close();
    });
}
