// ts-proto's NestJS output: controller/client interfaces and method decorators per service. Nest
// encodes messages itself from the .proto files (PROTO_ROOT) at run time.
export * as supplier from './generated/nest/framewire/v1/supplier';
export * as gateway from './generated/nest/framewire/v1/gateway';
