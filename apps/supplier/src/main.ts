// The supplier service: hands every worker the freshest frame of its stream.
import { runServiceProcess } from '@framewire/service';
import { SupplierModule } from './supplier.module';
import { loadSupplierConfig } from './config';

void runServiceProcess(() => loadSupplierConfig(), (config, logger) => SupplierModule.forRoot(config, logger));
