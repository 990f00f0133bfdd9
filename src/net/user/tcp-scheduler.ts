/**
 * Who sends the next data segment to the guest. Every connection with data the windows allow competes
 * for the guest's receive buffers, which are few (the NIC's ring) and drained at the speed of an
 * interpreted guest; sending whatever each connection may send the moment it may send it fills the
 * ring with the oldest bulk flows, and what comes after (a new connection's first bytes) is lost
 * with the overflow and waits for retransmission timers.
 *
 * So segments go out only while the NIC has room, chosen by deficit round robin with a new-flow list
 * (the scheduler of RFC 8290, fq_codel, without its CoDel part: our queues are the connections' send
 * queues, bounded by sendBuffer). A flow that was idle goes first; then each flow with data gets a
 * quantum of four full segments per round. Control segments (SYN, ACK, RST, retransmissions,
 * window probes) do not pass through here: they are few and go to the NIC at once.
 */

/** A connection as the scheduler sees it. */
export interface ScheduledFlow {
  /** Sends the next new segment if the windows allow one; returns its cost in bytes, or -1 for none. */
  sendOne(): number;
}

/**
 * Four full segments (1460 bytes of data and 40 of headers each) per flow and round. RFC 8290 4.1 takes
 * one, but then every segment in the ring belongs to another flow than its neighbours, so the guest's
 * GRO merges nothing and its TCP acknowledges every frame: measured with 220 flows, one segment gave
 * the guest 650 frames/s and drew 570 ACKs/s from it; eight gave 1,030 frames/s and 190 ACKs/s. Four
 * keeps most of that while a flow waits at most 4 x (flows - 1) segments for its turn; a flow that
 * was idle does not wait at all (the new-flow list).
 */
export const QUANTUM = 4 * 1500;

interface Slot { deficit: number }

/** A first-in first-out list that does not move its elements on every shift. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number { return this.items.length - this.head; }

  push(x: T): void { this.items.push(x); }

  peek(): T | undefined { return this.items[this.head]; }

  shift(): void {
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class FlowScheduler<F extends ScheduledFlow> {
  private readonly slots = new Map<F, Slot>();
  private readonly newFlows = new Fifo<F>();
  private readonly oldFlows = new Fifo<F>();
  private pumping = false;

  /** `room` is how many more frames the guest's NIC takes now. */
  constructor(private readonly room: () => number) {}

  /** `flow` may have something to send: queue it (as a new flow if it was idle) and send what fits. */
  wake(flow: F): void {
    if (!this.slots.has(flow)) {
      this.slots.set(flow, { deficit: QUANTUM });
      this.newFlows.push(flow);
    }
    this.pump();
  }

  /** Sends while the NIC has room and some flow has a segment (RFC 8290 4.2, dequeue). */
  pump(): void {
    // A segment sent may make the NIC call back (or a flow wake another); the loop already covers it.
    if (this.pumping) return;
    this.pumping = true;
    try {
      let room = this.room();
      while (room > 0) {
        const list = this.newFlows.length > 0 ? this.newFlows : this.oldFlows;
        const flow = list.peek();
        if (flow === undefined) break;
        const slot = this.slots.get(flow) as Slot;
        if (slot.deficit <= 0) {
          slot.deficit += QUANTUM;
          this.toOld(list, flow);
          continue;
        }
        const cost = flow.sendOne();
        if (cost < 0) {
          // A new flow that ran dry goes to the old list rather than away, so a flow cannot stay "new"
          // by sending a segment at a time; an old one that ran dry leaves until it wakes again.
          if (list === this.newFlows) {
            this.toOld(list, flow);
          } else {
            list.shift();
            this.slots.delete(flow);
          }
          continue;
        }
        slot.deficit -= cost;
        room--;
        if (room === 0) room = this.room();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Flows waiting for their turn, for tests. */
  get waiting(): number { return this.slots.size; }

  clear(): void {
    this.slots.clear();
    this.newFlows.clear();
    this.oldFlows.clear();
  }

  private toOld(list: Fifo<F>, flow: F): void {
    list.shift();
    this.oldFlows.push(flow);
  }
}
