import { createFakeBackend } from '../../src/backends/fake/fake-backend.ts';
import { describeBackendContract, type Action } from './contract.ts';

function fakeScript(actions: Action[]): string {
  return actions
    .map((a) => {
      switch (a.do) {
        case 'echo':
          return `echo ${a.text}`;
        case 'echo-err':
          return `echo-err ${a.text}`;
        case 'exit':
          return `exit ${a.code}`;
        case 'env':
          return `env ${a.name}`;
        case 'pwd':
          return 'pwd';
        case 'write':
          return `write ${a.path} ${a.text}`;
        case 'cat':
          return `cat ${a.path}`;
        case 'bytes':
          return `bytes ${a.count}`;
        case 'wait-for-term':
          return a.trap ? 'hang' : 'hang-hard';
      }
    })
    .join('\n');
}

describeBackendContract('fake', () => createFakeBackend(), {
  script: fakeScript,
  shell: ['fake'],
  image: 'fake/image',
  containers: false,
  refusesContainers: false,
  limits: false,
  processTree: false,
});
