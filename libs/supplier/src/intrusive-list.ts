// A doubly linked list threaded through its nodes' own fields: append, remove and move to the tail
// in O(1) without allocating, for the pool scheduler's orders (streams by wait, members by wait).

/** A node of an IntrusiveList: its links, owned by the list. A node is in at most one list. */
export interface Linked<T> {
  prev: T | undefined;
  next: T | undefined;
  linked: boolean;
}

/** Nodes in insertion order; `moveToTail` sends a node to the back of the line. */
export class IntrusiveList<T extends Linked<T>> {
  head: T | undefined = undefined;
  private tail: T | undefined = undefined;

  append(node: T): void {
    node.prev = this.tail;
    node.next = undefined;
    if (this.tail === undefined) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    node.linked = true;
  }

  /** Unlinks `node` if it is in the list. */
  remove(node: T): void {
    if (!node.linked) return;
    if (node.prev === undefined) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = undefined;
    node.next = undefined;
    node.linked = false;
  }

  moveToTail(node: T): void {
    if (node === this.tail) return;
    this.remove(node);
    this.append(node);
  }
}
