/**
 * The gRPC adapter's CallAuthorizer for the coordinator: authenticate the call's bearer token,
 * then require the role the RPC's row in the table names. Authentication comes first, so an
 * unknown caller learns nothing about the table; an RPC without a row is refused even for admins.
 */
import type { DescService } from "@bufbuild/protobuf";
import { StagefarmError } from "../../shared/errors.js";
import { AuthError, type CallAuthorizer } from "../../shared/grpc/index.js";
import type { Authenticator } from "./authenticator.js";
import type { Role } from "./roles.js";
import { RPC_ROLES } from "./rpc-roles.js";
import { parseAuthorization } from "./tokens.js";

function ruleOf(roles: Readonly<Record<string, Role>>, localName: string): Role | undefined {
  return Object.hasOwn(roles, localName) ? roles[localName] : undefined;
}

export function rpcAuthorizer(
  auth: Authenticator,
  roles: Readonly<Record<string, Role>> = RPC_ROLES,
): CallAuthorizer {
  return {
    authorize({ method, authorization }) {
      const who = auth.authenticate(parseAuthorization(authorization));
      const need = ruleOf(roles, method.localName);
      if (need === undefined)
        throw new AuthError("permission_denied", `${method.name} has no access rule on this server`);
      auth.require(who, need, method.name);
      return who;
    },
    checkCovers(service: DescService) {
      const missing = service.methods.filter((m) => ruleOf(roles, m.localName) === undefined);
      if (missing.length > 0)
        throw new StagefarmError(
          "internal",
          `no access rule for ${missing.map((m) => `${service.typeName}.${m.name}`).join(", ")}: add a row to RPC_ROLES (coordinator/auth/rpc-roles.ts)`,
        );
    },
  };
}
