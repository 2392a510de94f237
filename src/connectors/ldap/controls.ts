/**
 * The LDAP controls the connector uses. Whether the server supports one is read
 * from the root DSE's `supportedControl` (see {@link LdapPool.supportsControl}).
 */
import { BerWriter, Control, type Filter } from 'ldapts';

/** Permissive Modify: adding a present value or deleting a missing one succeeds. */
export const PERMISSIVE_MODIFY_OID = '1.2.840.113556.1.4.1413';

/** Assertion (RFC 4528): the operation runs only when the entry matches a filter, else result 122. */
export const ASSERTION_OID = '1.3.6.1.1.12';

/**
 * The Permissive Modify control.
 *
 * @example
 * await client.modify(dn, changes, permissiveModify());
 */
export function permissiveModify(critical = false): Control {
  return new Control(PERMISSIVE_MODIFY_OID, { critical });
}

/** The Assertion control (RFC 4528): its value is the BER encoding of a filter. */
export class AssertionControl extends Control {
  constructor(
    readonly filter: Filter,
    critical = true,
  ) {
    super(ASSERTION_OID, { critical });
  }

  protected override writeControl(writer: BerWriter): void {
    const inner = new BerWriter();
    this.filter.write(inner);
    writer.writeBuffer(inner.buffer, 0x04);
  }
}

/**
 * An Assertion control: the operation it is sent with fails with result 122
 * unless the target entry matches `filter`.
 *
 * @example
 * await client.del(dn, assertion(eq('entryUUID', uuid)));
 */
export function assertion(filter: Filter, critical = true): Control {
  return new AssertionControl(filter, critical);
}
