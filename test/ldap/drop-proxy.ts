/**
 * A TCP proxy on 127.0.0.1 in front of slapd that can lose the server's answer
 * to the next write: the write reaches the server and is applied, then the
 * connection is cut before the client hears back. That is the ambiguous
 * failure (the outcome of a write is unknown) made real. The `lose` fault of
 * the chaos suite's {@link LdapFaultProxy}, under its first name.
 */
import { LdapFaultProxy } from '../chaos/support/ldap-fault-proxy.ts';

export class DropProxy extends LdapFaultProxy {
  /** Writes whose answers were lost. */
  get dropped(): string[] {
    return this.requests.filter((r) => r.fault === 'lose').map((r) => r.op);
  }

  /** Loses the answer to the next write of this kind (`add`, `modify`, `delete`, `modifyDN`, or `any`). */
  dropNextAnswer(op: 'add' | 'modify' | 'delete' | 'modifyDN' | 'any'): void {
    this.inject({ op: op === 'any' ? 'write' : op, action: { kind: 'lose' } });
  }
}
