/**
 * What the IR keeps of a protobuf message beyond its modelled fields, so that a load/save round trip
 * loses nothing: unknown fields (opaque to the IR) and which default-valued fields were explicitly
 * present on the wire. Only the codec reads or writes these.
 */
export interface ProtoExtras {
  /** Unknown fields, as the codec found them; opaque to everything but the codec. */
  unknown?: unknown;
  /** Names of fields that were present on the wire although they held their default value. */
  present?: readonly string[];
}

/** A key/value pair of `metadata_props`, in file order. */
export type MetadataProps = [key: string, value: string][];
