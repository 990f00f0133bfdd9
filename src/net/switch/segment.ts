/**
 * The switch segment's own network services at 10.0.3.1: DHCP gives each VM an address from
 * 10.0.3.10-10.0.3.250 and remembers the hostname it sends (option 12); DNS answers those names with
 * their addresses, so VMs reach each other by name, and asks the host's resolver for everything else.
 * No router is offered: a VM reaches the outside through its user-mode card, if it has one.
 */
import { buildUdp, LIMITED_BROADCAST } from '../ipv4.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, DhcpServer } from '../user/dhcp.js';
import { DNS_PORT, DnsServer } from '../user/dns.js';
import { BROADCAST_MAC, SEGMENT_NETWORK, SEGMENT_PREFIX, SERVICES_IP, SegmentServer, type IpSender, type UdpDatagram } from './services.js';

export class SegmentNetwork extends SegmentServer {
  readonly dhcp: DhcpServer;
  readonly dns: DnsServer;

  constructor() {
    super();
    this.dhcp = new DhcpServer({
      serverIp: SERVICES_IP, network: SEGMENT_NETWORK, prefixLength: SEGMENT_PREFIX,
      router: null, dns: SERVICES_IP, domain: null, bootFile: null, tftpServer: null,
      firstIp: SEGMENT_NETWORK + 10, lastIp: SEGMENT_NETWORK + 250, leaseSeconds: 3600,
      drop: (r) => this.drop(r),
    });
    this.dns = new DnsServer({ localName: (name) => this.dhcp.lookupName(name), drop: (r) => this.drop(r) });
  }

  protected override onUdp(d: UdpDatagram, send: IpSender): void {
    if (d.dstPort === DHCP_SERVER_PORT) {
      const r = this.dhcp.handle(d.data);
      if (r === null) return;
      this.count('dhcp-replies');
      if (r.broadcast) send(buildUdp(SERVICES_IP, DHCP_SERVER_PORT, LIMITED_BROADCAST, DHCP_CLIENT_PORT, r.reply), BROADCAST_MAC);
      else send(buildUdp(SERVICES_IP, DHCP_SERVER_PORT, r.yiaddr, DHCP_CLIENT_PORT, r.reply));
    } else if (d.dstPort === DNS_PORT && d.dstIp === SERVICES_IP) {
      this.count('dns-queries');
      void this.dns.answer(d.data).then((answer) => {
        if (answer !== null) send(buildUdp(SERVICES_IP, DNS_PORT, d.srcIp, d.srcPort, answer));
      });
    } else {
      this.drop('udp-no-service');
    }
  }
}
